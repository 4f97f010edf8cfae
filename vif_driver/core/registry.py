"""Finding drivers by name in the entry-point group ``vif_driver.drivers``.

importlib.metadata costs a hook ~30 ms to import, more than lxml, so our
own distribution's entry points (the built-in drivers, registered in
setup.cfg like any other) are read straight from its dist-info first; other
names go through importlib.metadata. Both read the same entry points.
"""

import _thread
import os

from vif_driver import __version__
from vif_driver.api import InvalidInput, VifDriver

GROUP = "vif_driver.drivers"

_instances: "dict[str, VifDriver]" = {}
_lock = _thread.allocate_lock()  # the agent loads drivers from many threads (no threading import in hooks)


def _own_entry_points() -> "dict[str, str]":
    site = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    path = os.path.join(site, f"vif_driver-{__version__}.dist-info", "entry_points.txt")
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError:
        return {}
    from vif_driver.core.config import read_ini
    return read_ini(text, path).get(GROUP, {})


def entry_points() -> "dict[str, str]":
    """Every registered driver: name -> 'module:Class'. A name registered
    twice resolves to the first on sys.path, the copy Python would import."""
    from importlib.metadata import entry_points as all_entry_points
    found = all_entry_points()  # 3.9 (EL9): a dict of groups; group= and .select() are 3.10+
    group = found.select(group=GROUP) if hasattr(found, "select") else found.get(GROUP, ())
    drivers: "dict[str, str]" = {}
    for ep in group:  # 3.9 lists a dist-info twice if found twice: the first wins
        drivers.setdefault(ep.name, ep.value)
    return drivers


def _target(name: str) -> "str | None":
    own = _own_entry_points()
    if name in own:
        return own[name]
    return entry_points().get(name)


def load(name: str) -> VifDriver:
    """The driver instance registered as ``name`` (one per process)."""
    driver = _instances.get(name)
    if driver is not None:
        return driver
    with _lock:
        return _instances.get(name) or _create(name)


def _create(name: str) -> VifDriver:
    target = _target(name)
    if target is None:
        known = ", ".join(sorted(entry_points())) or "none"
        raise InvalidInput(f"no driver named '{name}' is installed (installed: {known}); "
                           f"install it or fix the [plugin_types] mapping")
    module_name, _, attr = target.partition(":")
    from importlib import import_module  # here: the importlib package pulls in warnings
    try:
        obj = import_module(module_name.strip())
        for part in attr.strip().split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as e:
        raise InvalidInput(f"driver '{name}' ({target}) cannot be loaded: {e}; reinstall it")
    if not (isinstance(obj, type) and issubclass(obj, VifDriver)):
        raise InvalidInput(f"driver '{name}' ({target}) is not a VifDriver subclass")
    driver = _instances[name] = obj()
    return driver


def close_all() -> None:
    for driver in _instances.values():
        driver.close()
    _instances.clear()

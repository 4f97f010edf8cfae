"""Finding drivers by name in the entry-point group ``vif_driver.drivers``.

importlib.metadata costs a hook ~30 ms to import, more than lxml, so our
own distribution's entry points (the built-in drivers, registered in
setup.cfg like any other) are read straight from its dist-info first; other
names go through importlib.metadata. Both read the same entry points.
"""

from __future__ import annotations

import os
import threading

from vif_driver import __version__
from vif_driver.api import API_METHODS, InvalidInput, Option, VifDriver

GROUP = "vif_driver.drivers"

_instances: dict[str, VifDriver] = {}
_lock = threading.Lock()  # the agent loads drivers from many threads


def _own_entry_points() -> dict[str, str]:
    site = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    path = os.path.join(site, f"vif_driver-{__version__}.dist-info", "entry_points.txt")
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError:
        return {}
    from vif_driver.core.config import read_ini
    return read_ini(text, path).get(GROUP, {})


def entry_points() -> dict[str, str]:
    """Every registered driver: name -> 'module:Class', as load() resolves
    it: a built-in name is always the built-in driver (ours are read
    first); another name registered twice resolves to the first on
    sys.path, the copy Python would import."""
    from importlib.metadata import entry_points as all_entry_points
    found = all_entry_points()  # 3.9 (EL9): a dict of groups; group= and .select() are 3.10+
    group = found.select(group=GROUP) if hasattr(found, "select") else found.get(GROUP, ())
    drivers: dict[str, str] = {}
    for ep in group:  # 3.9 lists a dist-info twice if found twice: the first wins
        drivers.setdefault(ep.name, ep.value)
    drivers.update(_own_entry_points())
    return drivers


def _target(name: str) -> str | None:
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
    except Exception as e:  # a third party's module may raise anything on import (SyntaxError too)
        raise InvalidInput(f"driver '{name}' ({target}) cannot be loaded: {type(e).__name__}: {e}; "
                           "reinstall it") from None
    if not (isinstance(obj, type) and issubclass(obj, VifDriver)):
        raise InvalidInput(f"driver '{name}' ({target}) is not a VifDriver subclass")
    problem = check_class(obj)
    if problem:
        raise BrokenDriver(f"driver '{name}' ({target}): {problem}")
    try:
        driver = obj()
    except Exception as e:
        raise BrokenDriver(f"driver '{name}' ({target}) failed to start: {type(e).__name__}: {e}") from None
    _instances[name] = driver
    return driver


class BrokenDriver(InvalidInput):
    """The driver class does not follow the API (docs/writing-a-driver.md)."""


# -- the checks of a driver class, as pluggy checks a plugin against its specs --
# Done with the functions' code objects: inspect costs a hook process ~10 ms.
_OPTION_TYPES = (str, int, float)  # the classes that are fine as an Option's parse
_TYPE_NAMES = {t.__name__: t for t in (str, int, float, bool, dict, list, tuple, set, frozenset)}


def check_class(cls: type) -> str | None:
    """What is wrong with a VifDriver subclass, in one line, or None."""
    for klass in cls.__mro__:
        if klass is VifDriver or klass is object:
            continue
        for attr, raw in vars(klass).items():
            if attr.startswith("_") or not _is_method(raw):
                continue
            if attr not in API_METHODS:
                return _not_api(attr)
    for attr, args in API_METHODS.items():
        problem = _check_signature(cls, attr, args)
        if problem:
            return problem
    return check_options(getattr(cls, "options", None))


def _is_method(raw) -> bool:
    return isinstance(raw, (staticmethod, classmethod)) or (callable(raw) and not isinstance(raw, type))


def _not_api(attr: str) -> str:
    import difflib
    close = difflib.get_close_matches(attr, list(API_METHODS), 1)
    if close:
        return f"public method {attr} is not an API method; did you mean {close[0]}? (helpers start with _)"
    return f"public method {attr} is not an API method; rename it _{attr} if it is a helper"


def _check_signature(cls: type, attr: str, args: tuple[str, ...]) -> str | None:
    raw = next(klass.__dict__[attr] for klass in cls.__mro__ if attr in klass.__dict__)
    call = f"{attr}({', '.join(args)})"
    if isinstance(raw, (staticmethod, classmethod)):
        func, passed = raw.__func__, len(args) + isinstance(raw, classmethod)
    elif not callable(raw):
        return f"{attr} is {_a(type(raw))}, not a method; the framework calls {call}"
    else:
        func, passed = raw, len(args) + 1  # self
    import inspect  # registration runs in the agent or an in-process hook, never a thin one
    if inspect.isgeneratorfunction(func) or inspect.iscoroutinefunction(func) or inspect.isasyncgenfunction(func):
        return f"{attr} is a generator or async function; the framework calls {call} and uses its result"
    try:
        inspect.signature(func).bind(*(["self"] if passed > len(args) else []), *args)
    except TypeError:
        try:
            given = ", ".join(inspect.signature(func).parameters)
        except (TypeError, ValueError):
            given = "..."
        return f"{attr}({given}) has the wrong signature; the framework calls {call}"
    except ValueError:  # no signature to read (a builtin): trust it
        return None
    return None


def check_options(options) -> str | None:
    """What is wrong with a driver's declared options, in one line, or None."""
    if not isinstance(options, dict):
        return f"options is {_a(type(options))}, not a dict of name -> api.Option"
    for key, option in options.items():
        if not (isinstance(key, str) and key.isascii() and key.isidentifier()):
            return f"option name {key!r} is not a custom property name ([A-Za-z_][A-Za-z0-9_]*)"
        if not isinstance(option, Option):
            return f"option {key} is {_a(type(option))}, not an api.Option"
        problem = _check_option(option)
        if problem:
            return f"option {key}: {problem}"
    return None


def _check_option(option: Option) -> str | None:
    parse = option.parse
    if isinstance(parse, type) and parse not in _OPTION_TYPES:
        fix = "validate.boolean (bool('false') is True)" if parse is bool else \
            "str, int, float or a parser function (see vif_driver.core.validate)"
        return f"parse={parse.__name__} is not an option type; use {fix}"
    if not callable(parse):
        return f"parse is {_a(type(parse))}, not callable; use str, int, float or a vif_driver.core.validate parser"
    if not isinstance(option.help, str) or not isinstance(option.host_only, bool):
        return "help must be a str and host_only a bool"
    default, kind = option.default, _value_type(parse)
    if default is None or kind is None:
        return None
    if isinstance(default, bool) and kind is not bool or not isinstance(default, kind) and not (
            kind is float and isinstance(default, int)):
        return (f"default {_shown(default)} is {_a(type(default))}, but {_parser_name(parse)} gives "
                f"{_a(kind)}; make it {_a(kind)} or None")
    if kind is str:
        try:
            parse(default)
        except Exception as e:  # noqa: BLE001 - whatever the parser raises, the default is wrong
            return f"default {_shown(default)} is refused by its own parser: {e}"
    return None


def _value_type(parse) -> type | None:
    """What ``parse`` returns, when its class or return annotation says."""
    if isinstance(parse, type):
        return parse
    inner = getattr(parse, "optional_of", None)
    if inner is not None:
        return _value_type(inner)
    annotation = getattr(parse, "__annotations__", {}).get("return")
    if isinstance(annotation, type):
        return annotation if annotation.__name__ in _TYPE_NAMES else None
    if isinstance(annotation, str) and "|" not in annotation:  # 'dict[str, str]' (postponed annotations)
        return _TYPE_NAMES.get(annotation.split("[", 1)[0].strip())
    return None


def _parser_name(parse) -> str:
    parse = getattr(parse, "optional_of", parse)
    return getattr(parse, "__name__", None) or type(parse).__name__


def _a(kind: type) -> str:
    return ("an " if kind.__name__[0] in "aeiou" else "a ") + kind.__name__


def _shown(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:40] + "..."


def close_all() -> None:
    for driver in _instances.values():
        driver.close()
    _instances.clear()

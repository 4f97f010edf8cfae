"""Constants and helpers shared by every test directory (a module of its
own: each directory's conftest.py is imported under the name 'conftest')."""

import os
import shutil
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "fixtures")
IN_CI = os.environ.get("CI", "").lower() == "true"

VNIC_ID = "6a9f5e2b-71a3-4c1e-9d1b-2f4e6a8c0b13"
VM_ID = "0b7c3a5e-8c2f-4f4b-9a6e-1d2c3b4a5f60"


def require(condition: bool, what: str) -> None:
    """A real part is missing: fail in CI (never skip silently), skip elsewhere."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"CI=true but {what} is missing; .ci/run must install it")
    pytest.skip(f"{what} is missing (outside CI only; under CI=true this fails)")


def require_tool(*names: str) -> None:
    for name in names:
        require(shutil.which(name) is not None or os.path.exists(f"/usr/sbin/{name}"), f"the '{name}' command")


def require_root() -> None:
    require(os.geteuid() == 0, "root (network namespaces need CAP_NET_ADMIN)")


def external_props(plugin_type="OPEN_VSWITCH", vnic_id=VNIC_ID, **extra):
    props = {"provider_type": "EXTERNAL_NETWORK", "plugin_type": plugin_type, "vnic_id": vnic_id}
    props.update(extra)
    return props


def is_stdlib(name: str) -> bool:
    """Whether module ``name`` is the standard library's. sys.stdlib_module_names
    is Python 3.10+; on 3.9 the module's file is under the stdlib directory."""
    top = name.split(".")[0]
    if hasattr(sys, "stdlib_module_names"):
        return top in sys.stdlib_module_names
    if top in sys.builtin_module_names:
        return True
    import importlib.util
    import sysconfig
    spec = importlib.util.find_spec(top)
    if spec is not None and spec.origin in ("built-in", "frozen"):
        return True
    if spec is None or not spec.origin or "site-packages" in spec.origin.split(os.sep):
        return False
    paths = sysconfig.get_paths()
    return any(spec.origin.startswith(os.path.join(paths[key], "")) for key in ("stdlib", "platstdlib"))

"""A hook for a vNIC that is not ours imports nothing beyond the standard
library and vif_driver.hook: that is what keeps it near a bare start."""

import os
import subprocess
import sys

import pytest

from support import external_props, is_stdlib


def hook_side(name: str) -> bool:
    """Whether one of our modules may be imported by a hook process."""
    return name in ("vif_driver", "vif_driver.hook") or name.startswith("vif_driver.hook.")

HEAVY = ("lxml", "ovs", "pyroute2", "click", "vif_driver.core", "vif_driver.api",
         "importlib.metadata", "configparser", "json", "logging", "typing")


def imported_modules(hook, env):
    """Modules the hook imports beyond what the interpreter's start-up does."""
    return _imports([hook], env) - _imports(["-c", "pass"], env)


def _imports(args, env):
    proc = subprocess.run([sys.executable, "-X", "importtime", *args], env=env, capture_output=True,
                          text=True, timeout=30, check=False)
    assert proc.returncode == 0, proc.stderr
    names = set()
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and "|" in line and "imported package" not in line:
            names.add(line.rsplit("|", 1)[1].strip())
    return names


@pytest.mark.parametrize("props", [
    {},
    {"provider_type": "OPENSTACK_NETWORK", "plugin_type": "OPEN_VSWITCH"},
    external_props("OTHER_SDN"),
], ids=["ovirt-network", "openstack", "other-external-provider"])
def test_foreign_vnic_imports_only_stdlib(hooks_root, tmp_path, props):
    xml = tmp_path / "device.xml"
    xml.write_text("<interface/>")
    env = dict(os.environ, _hook_domxml=str(xml), **props)
    env.pop("VIF_DRIVER_CONFIG", None)
    names = imported_modules(str(hooks_root / "before_device_create" / "50_vif_driver"), env)
    assert "vif_driver.hook.entry" in names
    ours = {n for n in names if n.startswith("vif_driver")}
    assert all(hook_side(n) for n in ours), ours
    for name in names - ours:
        assert is_stdlib(name) or name.startswith("_"), name
    assert not [n for n in names if n.startswith(HEAVY)]
    assert xml.read_text() == "<interface/>"

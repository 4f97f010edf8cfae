"""The installed entrypoint with the vif_driver library missing or broken
for its interpreter: one line naming the problem and the fix, never a
traceback, the file untouched, and exit 0 wherever stopping VDSM protects
nothing (other providers' vNICs, teardown, after-hooks, caps, stats, the
host's network setup); only a plug (or a migration here) of an external
vNIC that may be ours stops, so the guest does not start unplugged."""

import ast
import json
import os
import sys

import pytest

from vif_driver.hook import ownership
from vif_driver.hook.points import HOOK_POINTS
from vif_driver.tools import install

from support import FIXTURES, external_props

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "..", "..", "vif_driver", "hook", "script.py")
with open(os.path.join(FIXTURES, "xml", "engine-nic.xml"), encoding="utf-8") as _f:
    ENGINE_XML = _f.read()


@pytest.fixture(params=["missing", "syntax-error", "import-error"])
def broken(request, tmp_path, config_file):
    """(hooks root, environment) of a host whose hooks cannot import vif_driver:
    missing for the shebang's interpreter (python -SE: no site-packages, no
    $PYTHONPATH, as in the RPM's %check), a
    package that does not compile, one whose import raises."""
    root = tmp_path / "hooks"
    env = dict(os.environ)
    env["VIF_DRIVER_CONFIG"] = config_file("[plugin_types]\nMY_SDN = ovs\n")
    if request.param == "missing":
        for path in install.install_hooks(str(root), sys.executable, hooks_dir=""):
            with open(path, encoding="utf-8") as f:
                body = f.read().split("\n", 1)[1]
            with open(path, "w", encoding="utf-8") as f:
                f.write(f"#!{sys.executable} -SE\n{body}")  # no site-packages, no $PYTHONPATH
        return root, env
    install.install_hooks(str(root), sys.executable, hooks_dir="")
    shadow = tmp_path / "shadow" / "vif_driver"
    (shadow / "hook").mkdir(parents=True)
    (shadow / "__init__.py").write_text("")
    (shadow / "hook" / "__init__.py").write_text("")
    (shadow / "hook" / "entry.py").write_text(
        "def main(hook_point:\n" if request.param == "syntax-error" else "import vif_driver_missing_dependency\n")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(shadow.parent), env.get("PYTHONPATH")]))
    return root, env


CASES = [
    # (hook point, vNIC properties, exit code)
    ("before_device_create", external_props("OPEN_VSWITCH"), 2),
    ("before_nic_hotplug", external_props("LINUX_BRIDGE"), 2),
    ("before_update_device", external_props("OVIRT_PROVIDER_OVN"), 2),
    ("before_device_migrate_destination", external_props("OPEN_VSWITCH"), 2),
    ("before_device_create", external_props("MY_SDN"), 2),  # named in the host config
    ("before_device_create", {}, 0),  # an oVirt network's vNIC
    ("before_device_create", {"provider_type": "OPENSTACK_NETWORK", "plugin_type": "OPEN_VSWITCH"}, 0),
    ("before_device_create", external_props("OTHER_SDN"), 0),  # another provider's
    ("before_device_create", {"provider_type": "EXTERNAL_NETWORK"}, 0),  # no plugin_type: none of ours
    ("after_device_create", external_props("OPEN_VSWITCH"), 0),
    ("after_nic_hotplug_fail", external_props("OPEN_VSWITCH"), 0),
    ("before_nic_hotunplug", external_props("OPEN_VSWITCH"), 0),
    ("before_device_destroy", external_props("OPEN_VSWITCH"), 0),
    ("before_device_migrate_source", external_props("OPEN_VSWITCH"), 0),
    ("after_get_caps", {}, 0),
    ("after_get_stats", {}, 0),
    ("before_network_setup", {}, 0),
    ("after_network_setup", {}, 0),
]


@pytest.mark.parametrize("point,props,code", CASES)
def test_one_line_and_a_safe_exit_code(run_hook, broken, point, props, code):
    root, env = broken
    data = (json.dumps({"request": {"networks": {}, "bondings": {}, "options": {}}}) if "network_setup" in point
            else json.dumps({"hooks": {}}) if HOOK_POINTS[point].json else ENGINE_XML)
    run = run_hook(point, data, env=env, root=str(root), device_properties=props)
    assert run.rc == code, run.stderr
    lines = run.stderr.splitlines()
    assert len(lines) == 1 and len(lines[0]) <= 240, run.stderr
    assert lines[0].startswith(f"vif-driver {point}: cannot import vif_driver ("), lines[0]
    assert lines[0].endswith("; reinstall python3-vif-driver"), lines[0]
    assert run.text == data  # untouched


def test_the_script_knows_what_the_library_says():
    """script.py cannot import the tables it stands in for: its copies must
    stay equal to them."""
    tree = ast.parse(open(SCRIPT, encoding="utf-8").read())
    values = {node.targets[0].id: ast.literal_eval(node.value) for node in tree.body
              if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)
              and node.targets[0].id.isupper()}
    assert set(values["STOPPING"]) == {p.name for p in HOOK_POINTS.values() if p.fail_code == 2}
    assert set(values["BUILT_IN"]) == set(ownership.DEFAULT_PLUGIN_TYPES)
    source = open(SCRIPT, encoding="utf-8").read()
    assert f'"{ownership.CONFIG_ENV}"' in source and f'"{ownership.DEFAULT_PATH}"' in source

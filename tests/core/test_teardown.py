"""Teardown always proceeds: at before_nic_hotunplug, before_device_destroy
and before_device_migrate_source whatever goes wrong exits 0 with one
warning line, while the plug hooks still stop the operation (2) and the
after-hooks report it (1). Run in-process here (root, no agent); the
unprivileged agent cases are in tests/agent/test_teardown.py."""

import os
import subprocess

import pytest

from vif_driver.hook import protocol
from vif_driver.hook.points import HOOK_POINTS

from support import FIXTURES, VM_ID, external_props

TEARDOWN = ["before_nic_hotunplug", "before_device_destroy", "before_device_migrate_source"]
PLUG = ["before_device_create", "before_nic_hotplug", "before_update_device", "before_device_migrate_destination"]
with open(os.path.join(FIXTURES, "xml", "engine-nic.xml"), "rb") as _f:
    ENGINE = _f.read()


@pytest.fixture
def env(test_env):
    return dict(test_env, VIF_DRIVER_AGENT_SOCKET="/nonexistent/vif-teardown-test.sock")


def one_line(run, *needles):
    lines = run.stderr.splitlines()
    assert len(lines) == 1, run.stderr
    assert len(lines[0]) <= 240 and "Traceback" not in run.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def failures(config_file):
    """(id, properties, config or None, what the one line says)."""
    broken = config_file("[plugin_types\nTEST_SDN = test\n", "broken.conf")
    yield "broken-config", {}, broken, "broken.conf: line 1: malformed section header '[plugin_types'"
    invalid = config_file("[vif-driver]\ntimeout = soon\n[plugin_types]\nTEST_SDN = test\n", "invalid.conf")
    yield "invalid-config", {}, invalid, "invalid.conf: line 2: [vif-driver] timeout: 'soon'"
    yield "bad-vnic-id", {"vnic_id": "../../x"}, None, "property vnic_id: '../../x' is not a port id"
    yield "driver-error", {"fail_in": "CALL"}, None, "bridge br-test is not there; create it"
    yield "driver-bug", {"crash_in": "CALL"}, None, "internal error KeyError"
    yield "bad-option", {"bridge": "br;x"}, None, "property bridge"


@pytest.mark.parametrize("point", TEARDOWN + PLUG + ["after_device_destroy", "after_nic_hotunplug"])
def test_failures_by_hook_point(run_hook, env, config_file, point):
    call = HOOK_POINTS[point].call
    expected = 0 if point in TEARDOWN else 2 if point.startswith("before_") else 1
    for name, props, config, needle in failures(config_file):
        props = {k: v.replace("CALL", call) for k, v in props.items()}
        run_env = dict(env, VIF_DRIVER_CONFIG=config) if config else env
        run = run_hook(point, ENGINE, env=run_env, device_properties=external_props("TEST_SDN", **props))
        assert run.rc == expected, (name, run.stderr)
        assert run.aborted == (expected == 2)
        assert run.data == ENGINE, name  # untouched
        one_line(run, needle, point)


@pytest.mark.parametrize("point", TEARDOWN)
def test_teardown_succeeds_quietly_when_nothing_is_wrong(run_hook, env, point):
    run = run_hook(point, ENGINE, env=env, device_properties=external_props("TEST_SDN"))
    assert run.rc == 0 and run.stderr == "" and run.data == ENGINE


@pytest.mark.parametrize("point, code", [(p, 0) for p in TEARDOWN] + [("before_device_create", 2),
                                                                     ("after_device_destroy", 1)])
def test_missing_domxml_file(hooks_root, env, tmp_path, point, code):
    """VDSM always makes the file; if it is gone anyway, teardown still proceeds."""
    missing = tmp_path / "gone.xml"
    run_env = dict(env, _hook_domxml=str(missing), vmId=VM_ID, **external_props("TEST_SDN"))
    proc = subprocess.run([str(hooks_root / point / "50_vif_driver")], env=run_env, capture_output=True,
                          text=True, timeout=60, check=False)
    assert proc.returncode == code, proc.stderr
    expected = (f"vif-driver {point}: cannot read $_hook_domxml file {missing}: No such file or directory; "
                f"VDSM creates it for each run, readable by the hook's user (uid {os.geteuid()})")
    assert proc.stderr == protocol.one_line(expected) + "\n"
    assert not missing.exists()

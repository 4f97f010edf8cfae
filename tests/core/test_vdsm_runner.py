"""Our installed entrypoints run by the emulated VDSM runner next to other
providers' scripts (10_other before us, 90_other after us)."""

import json
import os
import stat
import sys

import pytest

from support import FIXTURES, VM_ID, VNIC_ID, external_props

ENGINE_XML = open(os.path.join(FIXTURES, "xml", "engine-nic.xml")).read()

# A foreign hook: logs what it saw (file content, env) and can edit or fail.
FOREIGN = r'''#!{python}
import json, os, sys
path = os.environ.get("_hook_domxml") or os.environ["_hook_json"]
data = open(path).read()
with open({log!r}, "a") as f:
    f.write(json.dumps({{"script": {name!r}, "data": data,
                        "env": {{k: os.environ.get(k) for k in ("color", "size", "vmId", "vnic_id")}}}}) + "\n")
action = os.environ.get("{name}_action", "")
if action == "edit":
    open(path, "w").write(data.replace("<model ", "<!-- {name} was here --><model "))
sys.exit(int(os.environ.get("{name}_rc", "0")))
'''


@pytest.fixture
def scripts(hooks_root, tmp_path):
    log = tmp_path / "foreign.log"
    for point in ("before_device_create", "after_device_create", "after_get_caps", "before_nic_hotunplug"):
        for name in ("10_other", "90_other"):
            path = hooks_root / point / name
            path.write_text(FOREIGN.format(python=sys.executable, log=str(log), name=name))
            path.chmod(0o755)
    # Not executable, and a directory: VDSM skips both.
    (hooks_root / "before_device_create" / "20_helper.py").write_text("raise SystemExit(2)\n")
    (hooks_root / "before_device_create" / "30_subdir").mkdir()

    def entries():
        return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return entries


def test_scripts_run_sorted_and_each_sees_the_previous_edits(run_hook, scripts, test_env, tmp_path):
    calls = tmp_path / "calls.log"
    env = dict(test_env, **{"10_other_action": "edit"})
    run = run_hook("before_device_create", ENGINE_XML, env=env,
                   device_properties=external_props("TEST_SDN", log=str(calls)))
    assert [os.path.basename(s.path) for s in run.scripts] == ["10_other", "50_vif_driver", "90_other"]
    assert run.rc == 0 and not run.failed
    seen_by_90 = scripts()[-1]
    assert seen_by_90["script"] == "90_other"
    assert "10_other was here" in seen_by_90["data"]  # our rewrite kept 10_other's edit
    assert "<source bridge=\"br-test\"/>" in seen_by_90["data"]  # and 90_other saw ours
    assert run.text == seen_by_90["data"]


def test_env_layering_device_then_vm_properties_then_vmid(run_hook, scripts, test_env):
    run_hook("after_device_create", "", env=test_env,
             device_properties=external_props("TEST_SDN", color="device", size="device"),
             vm_properties={"color": "vm", "vmId": "ignored"}, vm_id=VM_ID)
    env = scripts()[0]["env"]
    assert env == {"color": "vm", "size": "device", "vmId": VM_ID, "vnic_id": VNIC_ID}


def test_exit_1_lets_later_scripts_run_exit_2_stops_them(run_hook, scripts, test_env):
    run = run_hook("before_device_create", ENGINE_XML, env=dict(test_env, **{"10_other_rc": "1"}),
                   device_properties=external_props("TEST_SDN"))
    assert [s.rc for s in run.scripts] == [1, 0, 0] and run.aborted
    run = run_hook("before_device_create", ENGINE_XML, env=dict(test_env, **{"10_other_rc": "2"}),
                   device_properties=external_props("TEST_SDN"))
    assert [os.path.basename(s.path) for s in run.scripts] == ["10_other"]


def test_our_before_failure_exits_2_and_stops_later_providers(run_hook, scripts, test_env):
    run = run_hook("before_device_create", ENGINE_XML, env=test_env,
                   device_properties=external_props("TEST_SDN", fail_in="plug_device"))
    assert [s.rc for s in run.scripts] == [0, 2]
    assert run.text == ENGINE_XML  # untouched, byte for byte
    assert run.scripts[1].stderr.count("\n") == 1
    assert "bridge br-test is not there; create it" in run.scripts[1].stderr


def test_our_after_failure_exits_1_so_later_providers_still_run(run_hook, scripts, test_env):
    run = run_hook("after_device_create", "", env=test_env,
                   device_properties=external_props("TEST_SDN", test_not_ready="1"))
    assert [s.rc for s in run.scripts] == [0, 1, 0]
    assert "port not connected" in run.scripts[1].stderr


def test_foreign_vnic_passes_through_untouched(run_hook, scripts, test_env):
    for props in ({}, {"provider_type": "OPENSTACK_NETWORK", "plugin_type": "TEST_SDN", "vnic_id": VNIC_ID},
                  external_props("OTHER_SDN")):
        run = run_hook("before_device_create", ENGINE_XML, env=test_env, device_properties=props)
        assert run.rc == 0
        assert run.text == ENGINE_XML
        assert scripts()[-1]["data"] == ENGINE_XML


def test_caps_chain_through_all_providers(run_hook, scripts, test_env):
    with open(os.path.join(FIXTURES, "json", "caps.json")) as f:
        caps = json.load(f)
    run = run_hook("after_get_caps", caps, env=test_env)
    assert run.rc == 0
    result = run.json()
    assert result["openstack_binding_host_ids"]["TEST_SDN"] == "test-host-id"
    assert result["networks"] == caps["networks"]
    assert json.loads(scripts()[-1]["data"]) == result


def test_installed_entrypoints_mode_and_shebang(hooks_root):
    for point in ("before_device_create", "after_get_stats"):
        path = hooks_root / point / "50_vif_driver"
        assert stat.S_IMODE(path.stat().st_mode) == 0o755
        assert path.read_text().splitlines()[0] == f"#!{sys.executable}"


@pytest.mark.root
def test_a_hook_run_as_a_user_gets_that_users_groups_only(tmp_path):
    """VDSM runs vNIC hooks as vdsm with vdsm's own groups: the emulation
    must not keep root's gid 0 or root's supplementary groups, with which a
    hook reads root:root 0640 files the real vdsm cannot."""
    import shutil
    import tempfile

    from vif_driver.tools import runner

    from support import ensure_user, require_root
    require_root()
    user = ensure_user("vdsm")
    shared = tempfile.mkdtemp(prefix="vif-runner-groups-")
    try:
        os.chmod(shared, 0o755)
        secret = os.path.join(shared, "secret")
        with open(secret, "w") as f:
            f.write("root only\n")
        os.chown(secret, 0, 0)
        os.chmod(secret, 0o640)
        hook = os.path.join(shared, "before_device_create", "50_probe")
        os.makedirs(os.path.dirname(hook))
        with open(hook, "w") as f:
            f.write(f"#!/bin/sh\nid -u >&2; id -g >&2; id -G >&2\ncat '{secret}' >&2 || echo unreadable >&2\n"
                    "echo edited >> \"$_hook_domxml\"\n")
        os.chmod(hook, 0o755)
        run = runner.run_hooks(shared, "before_device_create", ENGINE_XML, user="vdsm", timeout=30)
    finally:
        shutil.rmtree(shared)
    uid, gid, groups, *rest = run.stderr.splitlines()
    assert (int(uid), int(gid)) == (user.pw_uid, user.pw_gid), run.stderr
    assert sorted(int(g) for g in groups.split()) == sorted(set(os.getgrouplist("vdsm", user.pw_gid)))
    assert 0 not in {int(g) for g in groups.split()} or user.pw_gid == 0
    assert rest[-1] == "unreadable" and "root only" not in run.stderr
    assert run.rc == 0 and run.text == ENGINE_XML + "edited\n"  # the data file is the user's to edit

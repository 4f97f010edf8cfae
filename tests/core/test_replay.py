"""The replay tool, capture, install-hooks and drivers commands."""

import json
import os
import stat
import sys

from click.testing import CliRunner

from vif_driver.core import registry
from vif_driver.hook.points import HOOK_POINTS
from vif_driver.tools.cli import main
from vif_driver.tools.fixture import Fixture
from vif_driver.tools.replay import replay

from support import FIXTURES, VM_ID, external_props

ENGINE_XML = os.path.join(FIXTURES, "xml", "engine-nic.xml")


def write_fixture(path, **doc):
    path.write_text(json.dumps(doc))
    return str(path)


def test_replay_shows_diff_exit_code_and_result(tmp_path, test_env, monkeypatch):
    for key, value in test_env.items():
        monkeypatch.setenv(key, value)
    fixture = write_fixture(tmp_path / "f.json", hook_point="before_device_create", data_file=ENGINE_XML,
                            device_properties=external_props("TEST_SDN"), vm_id=VM_ID)
    result = CliRunner().invoke(main, ["replay", fixture])
    assert result.exit_code == 0, result.output
    assert "--- 50_vif_driver: exit code 0" in result.output
    assert '-    <source bridge=";vdsmdummy;"/>' in result.output
    assert '+    <source bridge="br-test"/>' in result.output
    assert "exit code: 0 (expected 0)" in result.output


def test_replay_reports_expectation_mismatch(tmp_path, test_env, monkeypatch):
    for key, value in test_env.items():
        monkeypatch.setenv(key, value)
    fixture = write_fixture(tmp_path / "f.json", hook_point="before_device_create", data="",
                            device_properties=external_props("TEST_SDN"), expect={"exit_code": 0})
    result = CliRunner().invoke(main, ["replay", "-q", fixture])
    assert result.exit_code == 1
    assert "FAIL 2 before_device_create" in result.output
    assert "exit code 2, expected 0" in result.output
    assert result.output.splitlines()[-1] == "0 of 1 fixtures as expected"


def test_replay_judges_stderr_too(tmp_path, test_env, monkeypatch):
    """The right exit code for the wrong reason is a mismatch: expect.stderr
    patterns match whole lines, in order, and nothing else may be printed."""
    for key, value in test_env.items():
        monkeypatch.setenv(key, value)
    common = dict(hook_point="before_device_create", data="", device_properties=external_props("TEST_SDN"))
    right = write_fixture(tmp_path / "right.json", **common,
                          expect={"exit_code": 2, "stderr": [r"vif-driver\[test\] .*device XML is empty.*"]})
    wrong = write_fixture(tmp_path / "wrong.json", **common,
                          expect={"exit_code": 2, "stderr": [r".*is not a port id.*"]})
    silent = write_fixture(tmp_path / "silent.json", **common, expect={"exit_code": 2, "stderr": []})
    result = CliRunner().invoke(main, ["replay", "-q", right, wrong, silent])
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("ok   2"), lines
    assert lines[1].startswith("FAIL 2") and "does not match /.*is not a port id.*/" in lines[1]
    assert lines[2].startswith("FAIL 2") and "unexpected stderr line 1" in lines[2]
    assert lines[3] == "1 of 3 fixtures as expected"


def test_a_bad_stderr_pattern_is_named(tmp_path):
    fixture = write_fixture(tmp_path / "f.json", hook_point="after_get_caps", data="{}",
                            expect={"exit_code": 0, "stderr": ["(unclosed"]})
    result = CliRunner().invoke(main, ["replay", fixture])
    assert result.exit_code == 1
    assert "expect.stderr: bad regular expression" in result.output and "f.json" in result.output


def test_dry_run_shows_actions(tmp_path, test_env):
    fixture = Fixture("before_device_create", open(ENGINE_XML).read(), external_props("TEST_SDN"))
    result = replay(fixture, env=test_env, dry_run=True)
    assert result.run.rc == 0
    assert "dry-run: checked bridge br-test" in result.run.stderr


def test_capture_then_replay_gives_the_same_result(run_hook, test_env, tmp_path):
    captured = tmp_path / "captured"
    env = dict(test_env, VIF_DRIVER_CAPTURE_DIR=str(captured))
    props = external_props("TEST_SDN", bridge="br-cap")
    original = run_hook("before_device_create", open(ENGINE_XML).read(), env=env,
                        device_properties=props, vm_properties={"vm_prop": "x"})
    files = sorted(captured.iterdir())
    assert len(files) == 1
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o600
    fixture = Fixture.load(str(files[0]))
    assert fixture.hook_point == "before_device_create"
    assert fixture.vm_id == VM_ID and fixture.device_properties["bridge"] == "br-cap"
    again = replay(fixture, env=test_env)
    assert again.run.rc == 0 and again.run.data == original.data


def test_capture_never_puts_a_hostile_vnic_id_in_a_path(run_hook, test_env, tmp_path):
    captured = tmp_path / "captured"
    env = dict(test_env, VIF_DRIVER_CAPTURE_DIR=str(captured))
    run_hook("after_device_create", "", env=env, device_properties=external_props("TEST_SDN", vnic_id="../../x"))
    assert [p.name.endswith("invalid-vnic-id.json") for p in captured.iterdir()] == [True]


def test_install_hooks_command(tmp_path):
    result = CliRunner().invoke(main, ["install-hooks", "--destdir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    hook = tmp_path / "usr/libexec/vdsm/hooks/before_nic_hotplug/50_vif_driver"
    assert stat.S_IMODE(hook.stat().st_mode) == 0o755
    assert hook.read_text().startswith(f"#!{sys.executable}\n")
    assert str(hook) in result.output
    assert len(result.output.splitlines()) == len(HOOK_POINTS)


def test_repository_hook_source_is_the_installed_template():
    here = os.path.dirname(__file__)
    from vif_driver.tools.install import SCRIPT_NAMES, render
    for name in SCRIPT_NAMES:  # the names it is installed as (10_: the network-setup points)
        with open(os.path.join(here, "..", "..", "hooks", name)) as f:
            assert render("/usr/bin/python3") == f.read(), name


def test_drivers_command_lists_mapping(tmp_path, test_env, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", test_env["PYTHONPATH"])
    config = tmp_path / "c.conf"
    config.write_text("[plugin_types]\nMY_SDN = nowhere\n")
    result = CliRunner().invoke(main, ["drivers", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert "ovs" in result.output and "OPEN_VSWITCH" in result.output
    assert "MY_SDN                   -> nowhere   <-- NOT INSTALLED" in result.output


def test_builtin_fast_path_agrees_with_importlib_metadata():
    own = registry._own_entry_points()
    assert own, "vif-driver must be installed (not just on sys.path) for the tests"
    assert own == {k: v for k, v in registry.entry_points().items() if k in own}
    assert {"ovs", "linux_bridge"} <= set(own)

"""The bundled replay corpus (`make run`): every fixture gives its expected
exit code and stderr, and foreign vNICs come out byte for byte as they went in."""

import os

from click.testing import CliRunner

from vif_driver.tools.cli import main
from vif_driver.tools.fixture import Fixture, expand
from vif_driver.tools.replay import replay

from support import FIXTURES

CORPUS = os.path.join(FIXTURES, "replay")
CONFIG = os.path.join(CORPUS, "vif-driver.conf")


def test_make_run_replays_every_fixture_as_expected():
    result = CliRunner().invoke(main, ["replay", "-q", "--in-process", "--config", CONFIG, CORPUS])  # as make run
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    count = len(expand([CORPUS]))
    assert len(lines) == count + 1 and count >= 10
    assert all(line.startswith("ok ") for line in lines[:-1])
    assert lines[-1] == f"{count} of {count} fixtures as expected"


def test_every_bundled_fixture_states_its_stderr():
    for path in expand([CORPUS]) + expand([os.path.join(FIXTURES, "lifecycle", d)
                                           for d in ("ovs", "linux_bridge")]):
        assert isinstance(Fixture.load(path).stderr_patterns(), list), path


def test_foreign_vnics_untouched_and_ours_rewritten():
    for path in expand([CORPUS]):
        fixture = Fixture.load(path)
        run = replay(fixture, config=CONFIG).run
        props = fixture.device_properties
        ours = props.get("provider_type") == "EXTERNAL_NETWORK" and props.get("plugin_type") != "OTHER_SDN"
        if fixture.hook_point.startswith("before_") and not ours or run.rc != 0:
            assert run.text == fixture.data, path
        elif fixture.hook_point in ("before_device_create", "before_nic_hotplug", "before_update_device"):
            assert 'type="openvswitch"' in run.text, path
            # update-device keeps the running tap's name (libvirt refuses a rename): no <target> added
            assert ("tap6a9f5e2b-71" in run.text) == (fixture.hook_point != "before_update_device"
                                                      or "tap6a9f5e2b-71" in fixture.data), path

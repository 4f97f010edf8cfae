"""The bundled OVS vNIC lifecycle, replayed end to end against a real
Open vSwitch: with the `vif-driver replay` command as the docs show it, and
step by step with libvirt's part done where libvirt does it."""

import os
import subprocess
import sys

from vif_driver.tools.fixture import Fixture, expand
from vif_driver.tools.replay import replay

from ovs_helpers import LIFECYCLE, MAC, VM_ID, VNIC_ID, snapshot, tap


def _cli(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "vif_driver.tools.cli", *args], capture_output=True, text=True,
                          timeout=timeout, check=False)


def test_fixtures_cover_the_whole_lifecycle():
    points = [Fixture.load(p).hook_point for p in expand([LIFECYCLE])]
    assert len(points) == 15
    for needed in ("before_device_create", "after_device_create", "before_update_device", "after_get_caps",
                   "after_get_stats", "before_device_migrate_destination", "after_device_migrate_destination",
                   "after_nic_hotunplug", "after_device_destroy", "before_nic_hotplug", "after_nic_hotplug_fail"):
        assert needed in points


def test_replay_command_runs_the_lifecycle(ovs, tmp_path):
    """As docs/ovs-driver.md shows it: libvirt's part (the tap on br-int) is
    done once up front, then the whole directory replays with exit code 0."""
    ovs.plug_tap(tap(), iface_id=VNIC_ID, mac=MAC, vm_id=VM_ID)
    config = ovs.write_config(str(tmp_path / "vif-driver.conf"), timeout=2, plug_timeout=2)
    run = _cli("replay", "-q", "--config", config, LIFECYCLE)
    assert run.returncode == 0, run.stdout + run.stderr
    lines = run.stdout.splitlines()
    assert len(lines) == 16 and all(line.startswith("ok   0 ") for line in lines[:15])
    assert lines[15] == "15 of 15 fixtures as expected"
    assert ovs.ports() == []  # hot-unplug cleaned up the port libvirt left


def test_replay_dry_run_shows_ovsdb_reads_and_writes(ovs, tmp_path):
    ovs.plug_tap(tap(), iface_id=VNIC_ID, mac=MAC, vm_id=VM_ID)
    config = ovs.write_config(str(tmp_path / "vif-driver.conf"), timeout=2, plug_timeout=2)
    before = snapshot(ovs)
    run = _cli("replay", "--dry-run", "--config", config, LIFECYCLE)
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"dry-run: read OVSDB {ovs.remote}: Interface/Port {tap()}, Bridge br-int until ready" in run.stdout
    assert f"dry-run: would write OVSDB {ovs.remote}: remove port {tap()} from bridge br-int" in run.stdout
    assert snapshot(ovs) == before  # nothing written


def test_lifecycle_step_by_step_with_libvirts_part(ovs, tmp_path):
    """Each fixture in order; libvirt adds the tap after the plug rewrite and
    removes it at hot-unplug (leaving it behind once, as happens)."""
    config = ovs.write_config(str(tmp_path / "vif-driver.conf"), timeout=2, plug_timeout=2)
    env = dict(os.environ)
    env.pop("VIF_DRIVER_CONFIG", None)
    for path in expand([LIFECYCLE]):
        fixture = Fixture.load(path)
        result = replay(fixture, config=config, env=env)
        assert result.ok, result.report()
        if fixture.hook_point == "before_device_create":
            assert 'dev="tap6a9f5e2b-71"' in result.run.text
            ovs.plug_tap(tap(), iface_id=VNIC_ID, mac=MAC, vm_id=VM_ID)
        if fixture.hook_point == "after_device_create":
            assert ovs.interface(tap())["ofport"] > 0
    assert ovs.ports() == []

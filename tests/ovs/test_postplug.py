"""Post-plug confirmation (after_device_create, after_nic_hotplug,
after_device_migrate_destination) against a real Open vSwitch."""

import threading
import time

import pytest

from ovs_helpers import ENGINE_XML, MAC, OTHER_VNIC, VM_ID, VNIC_ID, props, snapshot, tap

CONFIRM_POINTS = ["after_device_create", "after_nic_hotplug", "after_device_migrate_destination",
                  "after_update_device"]


def _plugged_xml(run_hook, config):
    run = run_hook("before_device_create", ENGINE_XML, device_properties=props(), config=config)
    assert run.rc == 0, run.stderr
    return run.text


@pytest.mark.parametrize("hook_point", CONFIRM_POINTS)
def test_connected_port_is_confirmed_with_empty_xml(run_hook, ovs_config, plug, ovs, hook_point):
    plug()
    config = ovs_config()
    for _ in range(2):  # idempotent: same result, same switch state
        before = snapshot(ovs)
        run = run_hook(hook_point, "", device_properties=props(), config=config)
        assert run.rc == 0, run.stderr
        assert run.stderr == "" and run.data == b""
        assert snapshot(ovs) == before


def test_connected_port_is_confirmed_with_the_plugged_xml(run_hook, ovs_config, plug):
    config = ovs_config()
    xml = _plugged_xml(run_hook, config)
    plug()
    run = run_hook("after_device_create", xml, device_properties=props(), config=config)
    assert run.rc == 0, run.stderr
    assert run.text == xml


def test_wait_ends_when_libvirt_adds_the_port(run_hook, ovs_config, plug):
    """The port appears while the hook waits: the monitor sees it at once."""
    config = ovs_config(plug_timeout=10)
    timer = threading.Timer(0.5, plug)
    timer.start()
    try:
        start = time.monotonic()
        run = run_hook("after_device_create", "", device_properties=props(), config=config)
        elapsed = time.monotonic() - start
    finally:
        timer.join()
    assert run.rc == 0, run.stderr
    assert 0.4 < elapsed < 5


def test_missing_port_times_out_and_says_so(run_hook, ovs_config):
    start = time.monotonic()
    run = run_hook("after_device_create", "", device_properties=props(), config=ovs_config(plug_timeout=1))
    assert 0.9 < time.monotonic() - start < 5
    assert run.rc == 1 and not run.aborted
    assert f"port {tap()} not connected after 1 s" in run.stderr
    assert "libvirt has not added the port" in run.stderr
    assert run.stderr.count("\n") == 1


def test_port_without_device_reports_ovs_error(run_hook, ovs_config, plug):
    plug(create_devices=False)
    run = run_hook("after_device_create", "", device_properties=props(), config=ovs_config())
    assert run.rc == 1
    assert "not connected after 1 s: ofport -1: ovs-vswitchd could not open it" in run.stderr
    assert "No such device" in run.stderr


def test_port_not_opened_while_vswitchd_is_stopped(run_hook, ovs_config, ovs, plug):
    ovs.stop_vswitchd()
    plug(wait=False)
    run = run_hook("after_nic_hotplug", "", device_properties=props(), config=ovs_config())
    assert run.rc == 1
    assert "has no ofport yet" in run.stderr and "is it running?" in run.stderr


def test_port_of_another_vnic_is_not_taken_for_ours(run_hook, ovs_config, ovs):
    ovs.plug_tap(tap(), iface_id=OTHER_VNIC, mac=MAC, vm_id=VM_ID)
    run = run_hook("after_device_create", "", device_properties=props(), config=ovs_config())
    assert run.rc == 1
    assert f"external_ids:iface-id={OTHER_VNIC}, expected {VNIC_ID}" in run.stderr


def test_port_on_another_bridge(run_hook, ovs_config, ovs, plug):
    ovs.add_bridge("br-other")
    plug(bridge="br-other")
    run = run_hook("after_device_create", "", device_properties=props(), config=ovs_config())
    assert run.rc == 1
    assert f"port {tap()} is not on bridge br-int" in run.stderr


def test_missing_bridge(run_hook, ovs_config, ovs, plug):
    plug()
    run = run_hook("after_device_create", "", device_properties=props(bridge="br-gone"), config=ovs_config())
    assert run.rc == 1 and run.stderr.count("\n") == 1 and len(run.stderr) <= 240
    assert "bridge br-gone does not exist; create it (ovs-vsctl add-br br-gone) or set bridge in [driver:ovs]" \
        in run.stderr


def test_ovs_stopped_is_a_clear_error(run_hook, down_config):
    start = time.monotonic()
    run = run_hook("after_device_create", "", device_properties=props(), config=down_config)
    assert time.monotonic() - start < 2
    assert run.rc == 1
    assert "Open vSwitch is down at unix:" in run.stderr and "systemctl start openvswitch" in run.stderr


def test_ovs_hung_times_out_with_a_clear_error(run_hook, ovs_config, ovs, plug):
    plug()
    config = ovs_config(timeout=1, plug_timeout=5)
    ovs.pause_db()
    try:
        start = time.monotonic()
        run = run_hook("after_device_create", "", device_properties=props(), config=config, timeout=30)
        elapsed = time.monotonic() - start
    finally:
        ovs.resume_db()
    assert run.rc == 1
    assert "did not answer within 1 s; check `ovs-appctl" in run.stderr
    assert 0.9 < elapsed < 4


def test_dry_run_shows_the_wait(run_hook, ovs_config, plug):
    plug()
    import os
    env = dict(os.environ, VIF_DRIVER_DRY_RUN="1")
    run = run_hook("after_device_create", "", device_properties=props(), config=ovs_config(), env=env)
    assert run.rc == 0
    assert "read OVSDB unix:" in run.stderr and f"Interface/Port {tap()}, Bridge br-int until ready" in run.stderr

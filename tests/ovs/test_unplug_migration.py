"""Unplug cleanup and migration against a real Open vSwitch."""

import os

import pytest

from ovs_helpers import ENGINE_XML, MAC, OTHER_VNIC, VM_ID, VNIC_ID, props, snapshot, tap

CLEANUP_POINTS = ["after_device_destroy", "after_nic_hotunplug", "after_nic_hotplug_fail"]
OTHER_VM = "9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a"


@pytest.mark.parametrize("hook_point", CLEANUP_POINTS)
def test_port_left_behind_is_removed_once(run_hook, ovs_config, ovs, plug, hook_point):
    plug()
    plug(vnic_id=OTHER_VNIC)
    config = ovs_config()
    run = run_hook(hook_point, "", device_properties=props(), config=config)
    assert run.rc == 0, run.stderr
    assert ovs.ports() == [tap(OTHER_VNIC)]
    after = snapshot(ovs)
    again = run_hook(hook_point, "", device_properties=props(), config=config)
    assert again.rc == 0 and again.stderr == ""
    assert snapshot(ovs) == after


def test_port_found_by_iface_id_under_another_name(run_hook, ovs_config, ovs):
    ovs.plug_tap("vnet7", iface_id=props()["vnic_id"], mac=MAC, vm_id=VM_ID)
    run = run_hook("after_device_destroy", "", device_properties=props(), config=ovs_config())
    assert run.rc == 0, run.stderr
    assert ovs.ports() == []


def test_ports_of_others_are_never_removed(run_hook, ovs_config, ovs):
    """Same tap name but another port id (an 11-character prefix clash), or
    our port id plugged for another VM: not ours to remove."""
    ovs.plug_tap(tap(), iface_id=VNIC_ID[:11] + "-other", mac=MAC, vm_id=VM_ID)
    ovs.plug_tap("vnet9", iface_id=props()["vnic_id"], mac=MAC, vm_id=OTHER_VM)
    before = snapshot(ovs)
    run = run_hook("after_device_destroy", "", device_properties=props(), config=ovs_config())
    assert run.rc == 0, run.stderr
    assert snapshot(ovs) == before and len(before) == 2


def test_before_unplug_and_migration_source_change_nothing(run_hook, ovs_config, ovs, plug):
    plug()
    before = snapshot(ovs)
    for hook_point in ("before_nic_hotunplug", "before_device_destroy", "before_device_migrate_source",
                       "after_device_migrate_source"):
        run = run_hook(hook_point, "", device_properties=props(), config=ovs_config())
        assert run.rc == 0, (hook_point, run.stderr)
    assert snapshot(ovs) == before


def test_dry_run_unplug_shows_the_write_and_does_not_do_it(run_hook, ovs_config, ovs, plug):
    plug()
    env = dict(os.environ, VIF_DRIVER_DRY_RUN="1")
    run = run_hook("after_device_destroy", "", device_properties=props(), config=ovs_config(), env=env)
    assert run.rc == 0
    assert "dry-run: read OVSDB" in run.stderr
    assert f"dry-run: would write OVSDB {ovs.remote}: remove port {tap()} from bridge br-int" in run.stderr
    assert ovs.ports() == [tap()]


def test_unplug_with_ovs_stopped_fails_after_hook_only(run_hook, down_config):
    run = run_hook("after_device_destroy", "", device_properties=props(), config=down_config)
    assert run.rc == 1 and not run.aborted
    assert "Open vSwitch is down" in run.stderr


def test_migration_destination_with_the_bridge(run_hook, ovs_config, ovs):
    config = ovs_config()
    source_xml = run_hook("before_device_create", ENGINE_XML, device_properties=props(), config=config).text
    for _ in range(2):
        run = run_hook("before_device_migrate_destination", source_xml, device_properties=props(), config=config)
        assert run.rc == 0, run.stderr
        assert run.text == source_xml


def test_migration_destination_without_the_bridge_stops_the_migration(run_hook, ovs_config, ovs):
    ovs.del_bridge("br-int")
    run = run_hook("before_device_migrate_destination", ENGINE_XML, device_properties=props(),
                   config=ovs_config())
    assert run.rc == 2 and run.aborted
    assert "bridge br-int does not exist in Open vSwitch on this host" in run.stderr
    assert "ovs-vsctl add-br br-int" in run.stderr


def test_migration_destination_checks_the_bridge_of_the_source_xml(run_hook, ovs_config, ovs, config_file):
    """libvirt plugs into the bridge the source host's XML names."""
    source_xml = run_hook("before_device_create", ENGINE_XML, device_properties=props(bridge="br-src")).text
    run = run_hook("before_device_migrate_destination", source_xml, device_properties=props(),
                   config=ovs_config())
    assert run.rc == 2 and "bridge br-src does not exist" in run.stderr
    ovs.add_bridge("br-src")
    run = run_hook("before_device_migrate_destination", source_xml, device_properties=props(),
                   config=ovs_config())
    assert run.rc == 0, run.stderr


def test_migration_destination_with_ovs_stopped(run_hook, down_config):
    run = run_hook("before_device_migrate_destination", ENGINE_XML, device_properties=props(),
                   config=down_config)
    assert run.rc == 2 and "Open vSwitch is down" in run.stderr


def test_migration_destination_with_ovs_hung(run_hook, ovs_config, ovs):
    config = ovs_config(timeout=1)
    ovs.pause_db()
    try:
        run = run_hook("before_device_migrate_destination", ENGINE_XML, device_properties=props(),
                       config=config, timeout=30)
    finally:
        ovs.resume_db()
    assert run.rc == 2 and "did not answer within 1 s" in run.stderr


@pytest.mark.parametrize("hook_point", ["before_device_create", "before_device_migrate_destination"])
def test_an_overlay_vnic_needs_an_ovn_chassis_even_when_migrating(run_hook, ovs_config, ovs, hook_point):
    """A geneve network is carried by ovn-controller: a host that is no OVN
    chassis refuses it at plug, and a migration to it is stopped the same
    way (after it, the port would be on br-int with no network)."""
    config = ovs_config()
    overlay = props(network_type="geneve", mtu="1442")
    source_xml = run_hook("before_device_create", ENGINE_XML, device_properties=props(), config=config).text
    xml = ENGINE_XML if hook_point == "before_device_create" else source_xml
    run = run_hook(hook_point, xml, device_properties=overlay, config=config)
    assert run.rc == 2 and run.aborted
    assert "network type geneve needs OVN on this host: set Open_vSwitch external_ids:ovn-remote" in run.stderr
    assert "..." not in run.stderr  # one whole line
    ovs.vsctl("set", "Open_vSwitch", ".", "external_ids:ovn-remote=tcp:127.0.0.1:6642", wait=False)
    run = run_hook(hook_point, xml, device_properties=overlay, config=config)
    assert run.rc == 0, run.stderr

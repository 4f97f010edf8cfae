"""Claims of a network by a vNIC across link toggles, migrations and failed
operations; and the binding host id reported only when something is set up."""

import os

import pytest

from vif_driver.core import domxml
from vif_driver.drivers.linux_bridge.naming import bridge_name

from lb_helpers import ENGINE_XML, ONLY_LB, VNIC_ID, attach_tap, lb_props, state, tap_of

BRIDGE = bridge_name("physnet1", 100)
OTHER_BRIDGE = bridge_name("physnet1", 200)
NET = {"physical_network": "physnet1", "segmentation_id": "100"}
OTHER_NET = {"physical_network": "physnet1", "segmentation_id": "200"}
BASE = {"lo", "eth1", "eth1p", "eth2", "eth2p"}


def _claims(tmp_path):
    locks = tmp_path / "locks"
    return sorted(name for name in os.listdir(locks) if ".claim." in name) if locks.exists() else []


def _running_vm(run_hook, config, host):
    """A vNIC plugged, its tap attached by "libvirt" and confirmed."""
    plug = run_hook("before_device_create", ENGINE_XML, device_properties=lb_props(**NET), config=config)
    assert plug.rc == 0, plug.stderr
    attach_tap(host, VNIC_ID, BRIDGE)
    assert run_hook("after_device_create", "", device_properties=lb_props(**NET), config=config).rc == 0
    return plug.text


def _update(run_hook, config, xml, net=NET):
    toggled = xml.replace('<link state="up"/>', '<link state="down"/>')
    before = run_hook("before_update_device", toggled, device_properties=lb_props(**net), config=config)
    assert before.rc == 0, before.stderr
    return before


@pytest.mark.parametrize("leave", ["after_device_migrate_source", "after_nic_hotunplug", "after_device_destroy"])
def test_updates_then_the_vnic_leaves_removes_the_network(run_hook, lb_config, host, tmp_path, leave):
    config = lb_config()
    xml = _running_vm(run_hook, config, host)
    for _ in range(2):
        _update(run_hook, config, xml)
        assert len(_claims(tmp_path)) == 1  # claiming twice = once
    # VDSM's after_update_device may not come (a hook run lost): the leave alone must do
    host.delete_link(tap_of(VNIC_ID))  # libvirt removed the tap with the VM (or the NIC)
    run = run_hook(leave, "", device_properties=lb_props(**NET), config=config)
    assert run.rc == 0, run.stderr
    assert set(state(host)) == BASE
    assert _claims(tmp_path) == []


def test_after_update_drops_the_updates_claim(run_hook, lb_config, host, tmp_path):
    config = lb_config()
    xml = _running_vm(run_hook, config, host)
    for _ in range(2):
        done = _update(run_hook, config, xml)
        run = run_hook("after_update_device", done.text, device_properties=lb_props(**NET), config=config)
        assert run.rc == 0, run.stderr
        assert _claims(tmp_path) == []
    host.delete_link(tap_of(VNIC_ID))
    assert run_hook("after_device_migrate_source", "", device_properties=lb_props(**NET), config=config).rc == 0
    assert set(state(host)) == BASE


def test_network_change_removes_the_network_the_vnic_left(run_hook, lb_config, host, tmp_path):
    """An update moves the running vNIC from VLAN 100 to VLAN 200: once
    libvirt has moved its tap, the network it left goes as at an unplug
    (it was the last port); the new one stays."""
    config = lb_config()
    xml = _running_vm(run_hook, config, host)
    done = _update(run_hook, config, xml, OTHER_NET)
    assert OTHER_BRIDGE in host.links() and BRIDGE in host.links()
    host.ip("link", "set", tap_of(VNIC_ID), "master", OTHER_BRIDGE)  # libvirt's part of the update
    run = run_hook("after_update_device", done.text, device_properties=lb_props(**OTHER_NET), config=config)
    assert run.rc == 0, run.stderr
    links = host.links()
    assert BRIDGE not in links and "eth1.100" not in links
    assert links[tap_of(VNIC_ID)]["master"] == OTHER_BRIDGE and "eth1.200" in links
    assert _claims(tmp_path) == []


def test_update_keeps_the_running_taps_name(run_hook, lb_config, host, libvirt_define):
    config = lb_config()
    xml = _running_vm(run_hook, config, host)
    for target, expected in (('<target dev="vnet7"/>', ['vnet7']), ("", [])):
        rebuilt = xml.replace(f'<target dev="{tap_of(VNIC_ID)}"/>', target)
        done = _update(run_hook, config, rebuilt)
        assert [t.get("dev") for t in domxml.parse_device(done.text).findall("target")] == expected
        libvirt_define(done.text)


def test_failed_network_change_drops_only_its_own_claim(run_hook, lb_config, host, tmp_path):
    """The update moves the vNIC to VLAN 200 and fails: the network built for
    it goes, the vNIC stays on VLAN 100, its bridge stays."""
    config = lb_config()
    xml = _running_vm(run_hook, config, host)
    done = _update(run_hook, config, xml, OTHER_NET)
    assert OTHER_BRIDGE in host.links() and len(_claims(tmp_path)) == 1
    run = run_hook("after_update_device_fail", done.text, device_properties=lb_props(**OTHER_NET), config=config)
    assert run.rc == 0, run.stderr
    links = host.links()
    assert OTHER_BRIDGE not in links and "eth1.200" not in links
    assert links[tap_of(VNIC_ID)]["master"] == BRIDGE and "eth1.100" in links
    assert _claims(tmp_path) == []


def test_failed_update_after_our_before_refused_keeps_everything(run_hook, lb_config, host, tmp_path):
    """VDSM runs after_update_device_fail even when our before hook refused;
    a claim it did not make (a plug's, not confirmed yet) stays."""
    config = lb_config()
    plug = run_hook("before_device_create", ENGINE_XML, device_properties=lb_props(**NET), config=config)
    assert plug.rc == 0
    attach_tap(host, VNIC_ID, BRIDGE)
    before = state(host)
    bad = dict(NET, mtu="10")
    refused = run_hook("before_update_device", plug.text, device_properties=lb_props(**bad), config=config)
    assert refused.rc == 2 and refused.aborted
    run = run_hook("after_update_device_fail", plug.text, device_properties=lb_props(**NET), config=config)
    assert run.rc == 0, run.stderr
    assert state(host) == before and len(_claims(tmp_path)) == 1


@pytest.mark.parametrize("hook_point", ["after_update_device_fail", "after_nic_hotunplug_fail"])
def test_failed_operation_checks_the_tap_is_still_attached(run_hook, lb_config, host, hook_point):
    config = lb_config()
    xml = _running_vm(run_hook, config, host)
    before = state(host)
    run = run_hook(hook_point, xml, device_properties=lb_props(**NET), config=config)
    assert run.rc == 0, run.stderr
    assert state(host) == before  # nothing removed
    host.ip("link", "set", tap_of(VNIC_ID), "nomaster")
    run = run_hook(hook_point, "", device_properties=lb_props(**NET), config=config)
    assert run.rc == 1 and not run.aborted
    assert f"tap {tap_of(VNIC_ID)} of the running VM is not attached to a bridge" in run.stderr
    assert BRIDGE in host.links()


def test_binding_host_id_only_when_something_is_set_up(run_hook, config_file, host, tmp_path):
    """Empty config, no Linux bridge: the host must not claim it can bind
    LINUX_BRIDGE networks. A mapped interface or a configured bridge that
    exists: it may."""
    caps = {"openstack_binding_host_ids": {"OTHER": "keep-me"}}

    def caps_with(lines):
        config = config_file(f"{ONLY_LB}\n[driver:linux_bridge]\nnetns = {host.name}\nlock_dir = {tmp_path}\n"
                             + lines)
        run = run_hook("after_get_caps", caps, config=config)
        assert run.rc == 0 and run.stderr == "", run.stderr
        return run.json()["openstack_binding_host_ids"]

    assert caps_with("") == {"OTHER": "keep-me"}
    assert caps_with("physical_interface_mappings = physnet9:eth9\n") == {"OTHER": "keep-me"}  # no eth9
    assert caps_with("bridge = br-admin\n") == {"OTHER": "keep-me"}  # not created
    assert set(caps_with("physical_interface_mappings = physnet1:eth1\n")) == {"OTHER", "LINUX_BRIDGE"}
    host.bridge("br-admin")
    assert set(caps_with("bridge = br-admin\n")) == {"OTHER", "LINUX_BRIDGE"}

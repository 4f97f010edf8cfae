"""after_update_device_fail and after_nic_hotunplug_fail against a real Open
vSwitch: the operation failed and the vNIC stays on the running VM, so the
driver only checks it is still connected (found by its iface-id, whatever
libvirt named the tap) and never removes its port."""

import pytest

from ovs_helpers import ENGINE_XML, MAC, VM_ID, VNIC_ID, props, snapshot, tap

FAIL_POINTS = ["after_update_device_fail", "after_nic_hotunplug_fail"]


@pytest.mark.parametrize("hook_point", FAIL_POINTS)
@pytest.mark.parametrize("dev", [tap(), "vnet4"])
def test_failed_operation_keeps_the_port_and_confirms_it(run_hook, ovs_config, ovs, hook_point, dev):
    """``vnet4``: a VM started before the hook was installed, its tap named by libvirt."""
    ovs.plug_tap(dev, iface_id=VNIC_ID, mac=MAC, vm_id=VM_ID)
    config = ovs_config()
    before = snapshot(ovs)
    for data in ("", ENGINE_XML):
        run = run_hook(hook_point, data, device_properties=props(), config=config)
        assert run.rc == 0, run.stderr
        assert run.stderr == ""
        assert snapshot(ovs) == before and ovs.ports() == [dev]


@pytest.mark.parametrize("hook_point", FAIL_POINTS)
def test_failed_operation_reports_a_vnic_that_is_gone(run_hook, ovs_config, ovs, hook_point):
    run = run_hook(hook_point, "", device_properties=props(), config=ovs_config())
    assert run.rc == 1 and not run.aborted
    assert run.stderr.count("\n") == 1
    assert f"no interface in OVSDB has external_ids:iface-id={VNIC_ID}" in run.stderr
    assert ovs.ports() == []


def test_update_fail_after_our_own_before_refused(run_hook, ovs_config, ovs):
    """VDSM runs after_update_device_fail even when our before_update_device
    refused the update: the port of the running VM stays as it was."""
    ovs.plug_tap("vnet4", iface_id=VNIC_ID, mac=MAC, vm_id=VM_ID)
    config = ovs_config()
    before = snapshot(ovs)
    refused = run_hook("before_update_device", ENGINE_XML, device_properties=props(mtu="10"), config=config)
    assert refused.rc == 2 and refused.aborted and refused.text == ENGINE_XML
    run = run_hook("after_update_device_fail", ENGINE_XML, device_properties=props(mtu="10"), config=config)
    # the bad property is refused again (exit 1, logged); nothing is removed either way
    assert run.rc == 1 and "property mtu" in run.stderr
    run = run_hook("after_update_device_fail", ENGINE_XML, device_properties=props(), config=config)
    assert run.rc == 0, run.stderr
    assert snapshot(ovs) == before


def test_update_of_a_vm_whose_tap_libvirt_named(run_hook, ovs_config, ovs):
    """Link down on a running VM with tap vnet4: the rewrite keeps libvirt's
    name, the after hook finds the port by its iface-id."""
    ovs.plug_tap("vnet4", iface_id=VNIC_ID, mac=MAC, vm_id=VM_ID)
    config = ovs_config()
    rebuilt = ENGINE_XML.replace('<link state="up"/>', '<link state="down"/><target dev="vnet4"/>')
    run = run_hook("before_update_device", rebuilt, device_properties=props(), config=config)
    assert run.rc == 0, run.stderr
    assert '<target dev="vnet4"/>' in run.text and tap() not in run.text
    after = run_hook("after_update_device", run.text, device_properties=props(), config=config)
    assert after.rc == 0, after.stderr
    assert ovs.ports() == ["vnet4"]


def test_port_of_another_vm_does_not_count(run_hook, ovs_config, ovs):
    ovs.plug_tap("vnet4", iface_id=VNIC_ID, mac=MAC, vm_id="11111111-2222-4333-8444-555555555555")
    run = run_hook("after_nic_hotunplug_fail", "", device_properties=props(), config=ovs_config())
    assert run.rc == 1 and "no interface in OVSDB has external_ids:iface-id" in run.stderr
    assert ovs.ports() == ["vnet4"]


def test_unplug_refuses_a_vnic_id_that_is_not_a_uuid(run_hook, ovs_config, ovs):
    """After-teardown with a bad vnic_id: InvalidInput (exit 1, logged), the
    switch untouched; the before hooks do nothing and never block."""
    ovs.plug_tap("tapport_1", iface_id="port_1", mac=MAC, vm_id=VM_ID)
    config = ovs_config()
    for hook_point in ("before_nic_hotunplug", "after_nic_hotunplug"):
        run = run_hook(hook_point, "", device_properties=props(vnic_id="port_1"), config=config)
        assert not run.aborted
        assert run.rc == (1 if hook_point.startswith("after") else 0)
    assert "'port_1' is not a UUID" in run.stderr
    assert ovs.ports() == ["tapport_1"]

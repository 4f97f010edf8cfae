"""A vNIC's whole life on a provider VLAN network, hook by hook, in a
namespaced host: what the driver builds, marks, checks and removes."""

from vif_driver.drivers.linux_bridge.naming import MARK, bridge_name

from lb_helpers import ENGINE_XML, OTHER_VNIC, VNIC_ID, attach_tap, lb_props, state, tap_of, uplink_kind

BRIDGE = bridge_name("physnet1", 100)
NET = {"physical_network": "physnet1", "segmentation_id": "100", "mtu": "1400"}


def _plug(run_hook, config, vnic_id=VNIC_ID, hook="before_device_create", **net):
    return run_hook(hook, ENGINE_XML, device_properties=lb_props(vnic_id, **(net or NET)), config=config)


def test_plug_builds_marked_vlan_and_bridge_then_rewrites(run_hook, lb_config, host, libvirt_define):
    config = lb_config()
    run = _plug(run_hook, config)
    assert run.rc == 0, run.stderr
    links = host.links()
    bridge, vlan = links[BRIDGE], links["eth1.100"]
    assert bridge["linkinfo"]["info_kind"] == "bridge"
    assert vlan["linkinfo"]["info_kind"] == uplink_kind()
    assert vlan["master"] == BRIDGE
    assert "UP" in bridge["flags"] and "UP" in vlan["flags"]
    assert bridge["mtu"] == 1400 and vlan["mtu"] == 1400
    assert bridge["ifalias"] == f"{MARK} bridge physnet1 100 eth1.100"
    assert vlan["ifalias"] == f"{MARK} vlan physnet1 100 eth1.100"
    text = run.text
    assert f'<source bridge="{BRIDGE}"/>' in text
    assert f'<target dev="{tap_of(VNIC_ID)}"/>' in text
    assert '<mtu size="1400"/>' in text
    assert "virtualport" not in text and "vdsmdummy" not in text
    assert '<filterref filter="vdsm-no-mac-spoofing"/>' in text and '<boot order="2"/>' in text
    dumped = libvirt_define(text)
    assert f"bridge='{BRIDGE}'" in dumped and f"dev='{tap_of(VNIC_ID)}'" in dumped


def test_every_hook_twice_leaves_the_same_state(run_hook, lb_config, host):
    config = lb_config()
    first = _plug(run_hook, config)
    after_first = state(host)
    second = run_hook("before_device_create", first.text, device_properties=lb_props(**NET), config=config)
    assert second.rc == 0 and second.text == first.text
    assert state(host) == after_first
    attach_tap(host, VNIC_ID, BRIDGE)
    for hook in ("after_device_create", "after_device_create", "before_update_device", "before_update_device"):
        run = run_hook(hook, first.text, device_properties=lb_props(**NET), config=config)
        assert run.rc == 0, (hook, run.stderr)
    host.delete_link(tap_of(VNIC_ID))  # libvirt removes the tap when the VM stops
    for hook in ("before_device_destroy", "after_device_destroy", "after_device_destroy"):
        run = run_hook(hook, "", device_properties=lb_props(**NET), config=config)
        assert run.rc == 0, (hook, run.stderr)
    assert set(state(host)) == {"lo", "eth1", "eth1p", "eth2", "eth2p"}


def test_post_plug_check_names_what_is_missing(run_hook, lb_config, host):
    config = lb_config()
    assert _plug(run_hook, config).rc == 0
    run = run_hook("after_device_create", "", device_properties=lb_props(**NET), config=config)
    assert run.rc == 1
    assert f"tap {tap_of(VNIC_ID)} does not exist" in run.stderr
    host.tap(tap_of(VNIC_ID))  # created but never attached
    run = run_hook("after_nic_hotplug", "", device_properties=lb_props(**NET), config=config)
    assert run.rc == 1 and "not attached to any bridge" in run.stderr
    host.ip("link", "set", tap_of(VNIC_ID), "master", BRIDGE, "down")
    run = run_hook("after_device_create", "", device_properties=lb_props(**NET), config=config)
    assert run.rc == 1 and "is down" in run.stderr
    host.ip("link", "set", tap_of(VNIC_ID), "up")
    run = run_hook("after_device_create", "", device_properties=lb_props(**NET), config=config)
    assert run.rc == 0, run.stderr
    assert len(run.stderr.strip().splitlines()) == 0


def test_unplug_keeps_network_while_another_port_uses_it(run_hook, lb_config, host):
    config = lb_config()
    for vnic in (VNIC_ID, OTHER_VNIC):
        assert _plug(run_hook, config, vnic).rc == 0
        attach_tap(host, vnic, BRIDGE)
        assert run_hook("after_device_create", "", device_properties=lb_props(vnic, **NET),
                        config=config).rc == 0
    host.delete_link(tap_of(VNIC_ID))
    assert run_hook("after_device_destroy", "", device_properties=lb_props(**NET), config=config).rc == 0
    assert BRIDGE in host.links() and "eth1.100" in host.links()
    host.delete_link(tap_of(OTHER_VNIC))
    assert run_hook("after_nic_hotunplug", "", device_properties=lb_props(OTHER_VNIC, **NET),
                    config=config).rc == 0
    assert BRIDGE not in host.links() and "eth1.100" not in host.links()


def test_unplug_detaches_a_tap_libvirt_left_behind(run_hook, lb_config, host):
    config = lb_config()
    assert _plug(run_hook, config).rc == 0
    attach_tap(host, VNIC_ID, BRIDGE)
    run = run_hook("after_device_destroy", "", device_properties=lb_props(**NET), config=config)
    assert run.rc == 0, run.stderr
    links = host.links()
    assert tap_of(VNIC_ID) in links and "master" not in links[tap_of(VNIC_ID)]
    assert BRIDGE not in links and "eth1.100" not in links


def test_pending_plug_keeps_the_bridge_alive(run_hook, lb_config, host):
    """VM B's plug ran, its tap is not attached yet; VM A's last unplug must
    not remove the bridge under it."""
    config = lb_config()
    assert _plug(run_hook, config, VNIC_ID).rc == 0
    attach_tap(host, VNIC_ID, BRIDGE)
    assert run_hook("after_device_create", "", device_properties=lb_props(**NET), config=config).rc == 0
    assert _plug(run_hook, config, OTHER_VNIC).rc == 0  # B: plugged, not attached yet
    host.delete_link(tap_of(VNIC_ID))
    assert run_hook("after_device_destroy", "", device_properties=lb_props(**NET), config=config).rc == 0
    assert BRIDGE in host.links()
    attach_tap(host, OTHER_VNIC, BRIDGE)
    assert run_hook("after_device_create", "", device_properties=lb_props(OTHER_VNIC, **NET),
                    config=config).rc == 0


def test_never_removes_what_an_administrator_made(run_hook, lb_config, host):
    """A bridge and VLAN device with the derived names but no mark are used
    and kept."""
    kind = uplink_kind()
    if kind == "vlan":
        host.ip("link", "add", "link", "eth1", "name", "eth1.100", "type", "vlan", "id", "100")
    else:
        host.ip("link", "add", "eth1.100", "type", "vxlan", "id", "100", "dev", "eth1", "dstport", "4789")
    host.bridge(BRIDGE)
    config = lb_config()
    assert _plug(run_hook, config).rc == 0
    assert host.links()["eth1.100"]["master"] == BRIDGE
    run = run_hook("after_device_destroy", "", device_properties=lb_props(**NET), config=config)
    assert run.rc == 0, run.stderr
    links = host.links()
    assert BRIDGE in links and "eth1.100" in links


def test_explicit_bridge_is_checked_never_built(run_hook, lb_config, host, libvirt_define):
    config = lb_config()
    props = lb_props(bridge="br-admin")
    run = run_hook("before_device_create", ENGINE_XML, device_properties=props, config=config)
    assert run.rc == 2 and "bridge br-admin does not exist" in run.stderr
    assert "br-admin" not in host.links()
    host.bridge("br-admin")
    run = run_hook("before_nic_hotplug", ENGINE_XML, device_properties=props, config=config)
    assert run.rc == 0, run.stderr
    assert '<source bridge="br-admin"/>' in run.text and "<mtu" not in run.text
    libvirt_define(run.text)
    attach_tap(host, VNIC_ID, "br-admin")
    assert run_hook("after_nic_hotplug", run.text, device_properties=props, config=config).rc == 0
    host.delete_link(tap_of(VNIC_ID))
    assert run_hook("after_nic_hotunplug", run.text, device_properties=props, config=config).rc == 0
    assert "br-admin" in host.links()


def test_migration_destination_prepares_and_source_keeps(run_hook, lb_config, host):
    config = lb_config()
    props = lb_props(**NET)
    run = run_hook("before_device_migrate_destination", ENGINE_XML, device_properties=props, config=config)
    assert run.rc == 0, run.stderr
    assert BRIDGE in host.links() and host.links()["eth1.100"]["master"] == BRIDGE
    attach_tap(host, VNIC_ID, BRIDGE)
    assert run_hook("after_device_migrate_destination", "", device_properties=props, config=config).rc == 0
    # The VM migrates away again: nothing happens before, and after only
    # an unused network is removed (a VM that failed back still has its tap).
    before = state(host)
    assert run_hook("before_device_migrate_source", "", device_properties=props, config=config).rc == 0
    assert run_hook("after_device_migrate_source", "", device_properties=props, config=config).rc == 0
    assert state(host) == before
    host.delete_link(tap_of(VNIC_ID))
    assert run_hook("after_device_migrate_source", "", device_properties=props, config=config).rc == 0
    assert BRIDGE not in host.links()


def test_dry_run_records_and_changes_nothing(run_hook, lb_config, host):
    config = lb_config()
    before = state(host)
    run = run_hook("before_device_create", ENGINE_XML, device_properties=lb_props(**NET), config=config,
                   env=dict(__import__("os").environ, VIF_DRIVER_DRY_RUN="1"))
    assert run.rc == 0, run.stderr
    assert f"dry-run: would create bridge {BRIDGE}" in run.stderr
    assert state(host) == before

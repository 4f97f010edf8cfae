"""What vNICs and networks share on a host, through the installed hooks: a
host interface (two physical networks mapped to it, a renamed physical
network), a tap name (vNIC ids alike in their first 11 characters), a
bridge and VLAN device (vNICs asking for different MTUs). Teardown of one
never takes what another still uses."""

import json
import os

import pytest

from vif_driver.drivers.linux_bridge.naming import bridge_name

from lb_helpers import ENGINE_XML, ONLY_LB, OTHER_VNIC, VNIC_ID, attach_tap, lb_props, state, tap_of

BRIDGE = bridge_name("physnet1", 100)
NET = {"physical_network": "physnet1", "segmentation_id": "100"}
NET3 = {"physical_network": "physnet3", "segmentation_id": "100"}
# Two ids the driver accepts whose taps would share one name (tapport-0000).
PORT_A, PORT_B = "port-000000-a", "port-000000-b"


def _running(run_hook, config, host, vnic_id=VNIC_ID, net=NET, env=None):
    """A vNIC plugged, its tap attached by "libvirt" and confirmed."""
    plug = run_hook("before_device_create", ENGINE_XML, device_properties=lb_props(vnic_id, **net), config=config,
                    env=env)
    assert plug.rc == 0, plug.stderr
    attach_tap(host, vnic_id, bridge_name(net["physical_network"], int(net["segmentation_id"])))
    done = run_hook("after_device_create", "", device_properties=lb_props(vnic_id, **net), config=config, env=env)
    assert done.rc == 0, done.stderr
    return plug.text


def _lines(run) -> list:
    return run.stderr.strip().splitlines()


@pytest.fixture
def underlay_env(tmp_path):
    """An environment whose vif-driver state dir records VDSM's
    underlay=physnet:NAME networks, as network setup writes it."""
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    env = dict(os.environ, VIF_DRIVER_STATE_DIR=str(state_dir))
    env.pop("VIF_DRIVER_CONFIG", None)

    def record(physnets: dict) -> dict:
        entries = {name: {"network": f"net-{name}", "device": device} for name, device in physnets.items()}
        (state_dir / "underlays.json").write_text(json.dumps({"physnets": entries}))
        return env
    return record


# -- a host interface -------------------------------------------------------

def test_renamed_physnet_teardown_keeps_the_vlan_device_of_the_running_vm(run_hook, lb_config, host):
    """VM A runs on physnet1/100 (eth1.100); the config then maps eth1 to
    physnet3. A hotplug on physnet3/100 is refused (eth1.100 is a port of
    A's bridge); the fail hook VDSM runs after it must leave eth1.100 on
    A's bridge: its mark names physnet1, and it is another bridge's port."""
    _running(run_hook, lb_config(), host)
    before = state(host)
    renamed = lb_config(name="renamed.conf", mappings="physnet3:eth1, physnet2:eth2")
    props = lb_props(OTHER_VNIC, **NET3)
    refused = run_hook("before_nic_hotplug", ENGINE_XML, device_properties=props, config=renamed)
    assert refused.rc == 2 and refused.aborted
    assert f"eth1.100 is already a port of {BRIDGE}" in refused.stderr
    failed = run_hook("after_nic_hotplug_fail", ENGINE_XML, device_properties=props, config=renamed)
    assert failed.rc == 0, failed.stderr
    assert state(host) == before
    assert host.links()["eth1.100"]["master"] == BRIDGE


def test_a_free_vlan_device_marked_for_another_network_is_kept(run_hook, lb_config, host):
    """eth1.100, marked for physnet1 and on no bridge (its bridge deleted by
    hand): physnet3's teardown does not delete it."""
    config = lb_config()
    plug = run_hook("before_device_create", ENGINE_XML, device_properties=lb_props(**NET), config=config)
    assert plug.rc == 0, plug.stderr
    host.delete_link(BRIDGE)
    renamed = lb_config(name="renamed.conf", mappings="physnet3:eth1")
    run = run_hook("after_device_destroy", "", device_properties=lb_props(OTHER_VNIC, **NET3), config=renamed)
    assert run.rc == 0, run.stderr
    assert "eth1.100" in host.links()


def test_underlay_physnet_on_a_mapped_interface_wins_with_one_warning(run_hook, lb_config, host, underlay_env):
    """The config maps eth1 to physnet1 and VM A runs there; network setup
    then records underlay=physnet:physnet3 on eth1. One physical network
    per interface: physnet3 wins, physnet1's mapping is ignored with one
    warning line; a physnet3/100 hotplug is refused (eth1.100 is A's) and
    its fail hook leaves A's network whole."""
    config = lb_config()
    _running(run_hook, config, host)
    before = state(host)
    env = underlay_env({"physnet3": "eth1"})
    props = lb_props(OTHER_VNIC, **NET3)
    refused = run_hook("before_nic_hotplug", ENGINE_XML, device_properties=props, config=config, env=env)
    assert refused.rc == 2
    warning, error = _lines(refused)
    assert "physnet1:eth1 of physical_interface_mappings ignored" in warning
    assert "underlay=physnet:physnet3" in warning and "net-physnet3" in warning
    assert f"eth1.100 is already a port of {BRIDGE}" in error
    failed = run_hook("after_nic_hotplug_fail", ENGINE_XML, device_properties=props, config=config, env=env)
    assert failed.rc == 0, failed.stderr
    assert state(host) == before
    unmapped = run_hook("before_nic_hotplug", ENGINE_XML, device_properties=lb_props(OTHER_VNIC, **NET),
                        config=config, env=env)
    assert unmapped.rc == 2 and "physical network 'physnet1' is not mapped" in unmapped.stderr
    assert "physnet1:eth1 of physical_interface_mappings ignored" in _lines(unmapped)[0]


# -- caps -------------------------------------------------------------------

def test_caps_report_the_underlay_physnets_the_plugs_use(run_hook, config_file, host, tmp_path, underlay_env):
    """No config mapping, eth2 recorded as underlay=physnet:physnet2: the
    host plugs physnet2 vNICs, so caps report the mapping and the binding
    host id."""
    config = config_file(f"{ONLY_LB}\n[driver:linux_bridge]\nnetns = {host.name}\nlock_dir = {tmp_path}\n")
    env = underlay_env({"physnet2": "eth2"})
    run = run_hook("after_get_caps", {}, config=config, env=env)
    assert run.rc == 0 and run.stderr == "", run.stderr
    caps = run.json()
    assert caps["vif_driver"]["drivers"]["linux_bridge"]["physical_interface_mappings"] == {"physnet2": "eth2"}
    assert "LINUX_BRIDGE" in caps["openstack_binding_host_ids"]


def test_two_underlay_physnets_on_one_device_keep_one(run_hook, lb_config, host, underlay_env):
    env = underlay_env({"physnet4": "eth2", "physnet5": "eth2"})
    run = run_hook("after_get_caps", {}, config=lb_config(mappings="physnet1:eth1"), env=env)
    assert run.rc == 0, run.stderr
    mappings = run.json()["vif_driver"]["drivers"]["linux_bridge"]["physical_interface_mappings"]
    assert mappings == {"physnet1": "eth1", "physnet4": "eth2"}
    assert len(_lines(run)) == 1 and "underlay=physnet:physnet5" in run.stderr and "ignored" in run.stderr


# -- a tap name -------------------------------------------------------------

def test_a_vnic_whose_tap_name_is_a_running_vnics_is_refused(run_hook, lb_config, host):
    """A runs port-000000-a (tap tapport-0000); a hotplug of port-000000-b
    into another VM is refused in one line, and the fail hook VDSM runs
    next leaves A's tap on its bridge and A's network in place."""
    config = lb_config()
    _running(run_hook, config, host, PORT_A)
    before = state(host)
    props = lb_props(PORT_B, **NET)
    refused = run_hook("before_nic_hotplug", ENGINE_XML, device_properties=props, config=config,
                       vm_id="1c2d3e4f-5a6b-4c7d-8e9f-a0b1c2d3e4f5")
    assert refused.rc == 2 and refused.aborted and len(_lines(refused)) == 1
    assert f"tap name {tap_of(PORT_B)}" in refused.stderr and PORT_A in refused.stderr
    failed = run_hook("after_nic_hotplug_fail", ENGINE_XML, device_properties=props, config=config)
    assert failed.rc == 0, failed.stderr
    assert state(host) == before
    assert host.links()[tap_of(PORT_A)]["master"] == BRIDGE
    # A leaves: its record goes with it, and B may have the name
    host.delete_link(tap_of(PORT_A))
    assert run_hook("after_device_destroy", "", device_properties=lb_props(PORT_A, **NET), config=config).rc == 0
    _running(run_hook, config, host, PORT_B)


def test_a_pending_plug_holds_its_tap_name(run_hook, lb_config, host):
    """A's plug ran, libvirt has not made its tap yet: B is refused too."""
    config = lb_config()
    assert run_hook("before_device_create", ENGINE_XML, device_properties=lb_props(PORT_A, **NET),
                    config=config).rc == 0
    refused = run_hook("before_device_create", ENGINE_XML, device_properties=lb_props(PORT_B, **NET),
                       config=config)
    assert refused.rc == 2 and PORT_A in refused.stderr


def test_teardown_never_detaches_another_vnics_tap(run_hook, lb_config, host):
    """The fail hook of B arrives although B's plug never ran here (or ran
    with another config): A's tap, recorded for A, stays on the bridge."""
    config = lb_config()
    _running(run_hook, config, host, PORT_A)
    before = state(host)
    for hook in ("after_nic_hotplug_fail", "after_nic_hotunplug", "after_device_destroy"):
        run = run_hook(hook, "", device_properties=lb_props(PORT_B, **NET), config=config)
        assert run.rc == 0, (hook, run.stderr)
        assert state(host) == before, hook


def test_a_tap_on_a_bridge_recorded_for_no_vnic_is_refused(run_hook, lb_config, host):
    """A tap with the derived name already on a bridge and recorded for no
    vNIC (a VM started before this version, another tool's): refused."""
    host.bridge("br-sharing")
    host.tap(tap_of(VNIC_ID), master="br-sharing")
    run = run_hook("before_device_create", ENGINE_XML, device_properties=lb_props(**NET), config=lb_config())
    assert run.rc == 2 and len(_lines(run)) == 1
    assert f"tap {tap_of(VNIC_ID)} exists, a port of br-sharing" in run.stderr
    assert BRIDGE not in host.links()


# -- a bridge and VLAN device -------------------------------------------------

def test_mtu_of_the_shared_devices_never_drops_below_a_vnics(run_hook, lb_config, host):
    """A at 1400, then B asks for 1300: the bridge and VLAN device A's
    frames cross stay at 1400 (B gets 1300 on its own tap through <mtu>);
    C asks for 1420: both are raised."""
    config = lb_config()
    _running(run_hook, config, host, VNIC_ID, dict(NET, mtu="1400"))
    plug = run_hook("before_device_create", ENGINE_XML, device_properties=lb_props(OTHER_VNIC, **NET, mtu="1300"),
                    config=config)
    assert plug.rc == 0, plug.stderr
    assert '<mtu size="1300"/>' in plug.text
    links = host.links()
    assert links["eth1.100"]["mtu"] == 1400 and links[BRIDGE]["mtu"] == 1400
    third = "7d6c5b4a-3928-4716-a5b4-c3d2e1f00f1e"
    plug = run_hook("before_device_create", ENGINE_XML, device_properties=lb_props(third, **NET, mtu="1420"),
                    config=config)
    assert plug.rc == 0, plug.stderr
    links = host.links()
    assert links["eth1.100"]["mtu"] == 1420 and links[BRIDGE]["mtu"] == 1420

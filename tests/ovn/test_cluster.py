"""vNICs on a simulated OVN cluster, through the provider's API (its OVN
backend on the cluster's northbound database) and the installed hooks:
overlay connectivity across hosts, isolation between networks, OVN's native
DHCP, port security, the post-plug wait for ovn-installed, caps, and a live
migration with OVN's multi-chassis binding (the engine moves
binding:host_id: requested-chassis "SRC,DST" + activation-strategy=rarp;
the destination's after_device_migrate_destination binds it to DST)."""

import json
import threading
import time

import pytest

from ovn_helpers import lsp_options, network, wait_for

pytestmark = [pytest.mark.ovn, pytest.mark.ovs, pytest.mark.netns, pytest.mark.root, pytest.mark.provider]


def test_one_network_across_hosts_ping_and_tcp_other_network_isolated(ovn, neutron, boot):
    h1, h2, h3 = ovn.hosts.values()
    net_a, net_b = network(neutron, "neta"), network(neutron, "netb")
    a1 = boot(h1, net_a, "a1")
    a2 = boot(h2, net_a, "a2")
    b3 = boot(h3, net_b, "b3")  # same IP subnet, another network: only OVN keeps them apart
    assert a1.installed() and a2.installed() and b3.installed()
    assert b'<mtu size="1442"/>' in a1.plugged.data.replace(b"'", b'"')  # the network's MTU, from the provider
    assert a1.guest.ping(a2.ip) and a2.guest.ping(a1.ip)
    assert a1.guest.tcp_echo(a2.guest)
    assert not a1.guest.ping(b3.ip, count=1) and not a1.guest.arp_resolved(b3.ip)
    assert not b3.guest.ping(a2.ip, count=1) and not b3.guest.arp_resolved(a2.ip)
    assert any(p.startswith("ovn-") for p in h1.box.ports("br-int"))  # the Geneve tunnels
    assert wait_for(lambda: neutron.show_port(a1.port["id"])["port"]["status"] == "ACTIVE", 5)


def test_dhcp_offers_the_fixed_ip_and_spoofed_source_is_dropped(ovn, neutron, boot):
    from vif_driver.tools.sandbox.ovn import dhcp_offer
    h1, h2, _ = ovn.hosts.values()
    net = network(neutron, "netd")
    server = boot(h2, net, "d2")
    vm = boot(h1, net, "d1", dhcp=True)
    offer = dhcp_offer(vm.guest, vm.mac)
    print("DHCP offer:", json.dumps(offer))
    assert offer is not None, "no DHCP offer from OVN"
    assert (offer["yiaddr"], offer["netmask"], offer["router"], offer["mtu"]) == (
        vm.ip, "255.255.255.0", "10.77.0.1", 1442)
    vm.guest.ns.address("eth0", vm.cidr)
    vm.guest.address = vm.cidr
    assert vm.guest.ping(server.ip)
    # a source address other than the port's: port security drops it
    vm.guest.ns.address("eth0", "10.77.0.250/24")
    spoofed = vm.guest.ns.exec(["ping", "-n", "-c", "2", "-i", "0.2", "-W", "1", "-I", "10.77.0.250", server.ip],
                               timeout=10, check=False)
    assert spoofed.returncode != 0
    assert vm.guest.ping(server.ip)  # the port's own address still passes


def test_post_plug_returns_only_after_ovn_installed(ovn, neutron, boot, run_hook):
    """The port is bound to another host when the vNIC is plugged here:
    ovn-controller does not claim it and post-plug waits; the engine binds
    it here 1 s later and post-plug returns once the flows are installed."""
    h1, h2, _ = ovn.hosts.values()
    vm = boot(h1, network(neutron, "netw"), "w1", confirm=False, bound_to=h2.system_id)
    assert not vm.installed()
    timer = threading.Timer(1.0, lambda: neutron.update_port(vm.port["id"], {"port": {
        "binding:host_id": h1.system_id}}))
    start = time.monotonic()
    timer.start()
    try:
        done = run_hook("after_device_create", "", config=vm.config, device_properties=vm.props, vm_id=vm.vm_id)
    finally:
        timer.join()
    took = time.monotonic() - start
    assert done.rc == 0, done.stderr
    assert took >= 1.0, took
    assert vm.installed(), "post-plug returned before ovn-installed"
    print(f"post-plug returned {took - 1.0:.2f} s after the port was bound here")


def test_post_plug_fails_within_plug_timeout_naming_ovn_controller(ovn, neutron, boot, run_hook):
    h3 = list(ovn.hosts.values())[2]
    net = network(neutron, "nets")
    h3.stop_controller()
    try:
        vm = boot(h3, net, "s3", confirm=False, plug_timeout=2)
        start = time.monotonic()
        done = run_hook("after_device_create", "", config=vm.config, device_properties=vm.props, vm_id=vm.vm_id)
        took = time.monotonic() - start
        installed_while_down = vm.installed()
    finally:
        h3.start_controller()
    lines = done.stderr.strip().splitlines()
    print(f"post-plug failed after {took:.2f} s: {done.stderr.strip()}")
    assert done.rc != 0
    assert len(lines) == 1 and "ovn-controller" in lines[0] and " ... " not in lines[0], done.stderr
    assert took < 2 + 1.5, took
    assert not installed_while_down
    assert wait_for(vm.installed, 15)  # restarted: the port is installed after all


def test_live_migration_no_duplicates_no_flapping_few_lost(ovn, neutron, boot, run_hook, config):
    from vif_driver.tools.sandbox.hosts import pings_during
    from vif_driver.tools.sandbox.ovn import send_rarp
    h1, h2, h3 = ovn.hosts.values()
    net = network(neutron, "netm")
    client = boot(h1, net, "m1")
    vm = boot(h2, net, "m2")
    assert client.guest.ping(vm.ip)
    assert wait_for(lambda: neutron.show_port(vm.port["id"])["port"]["status"] == "ACTIVE", 5)
    logs = {h.name: len(h.controller_log()) for h in (h2, h3)}
    src, dst = h2.system_id, h3.system_id
    dest_guest = ovn.add_guest("m2-dst")
    dst_config = config(h3)
    seen = {}

    def migrate():
        # the engine moves binding:host_id while the VM still runs on the source
        neutron.update_port(vm.port["id"], {"port": {"binding:host_id": dst}})
        seen["start"] = lsp_options(ovn, vm.port["id"])
        before = run_hook("before_device_migrate_destination", vm.plugged.data, config=dst_config,
                          device_properties=vm.props, vm_id=vm.vm_id)
        assert before.rc == 0, before.stderr
        h3.attach(dest_guest, vm.plugged.data, vm.cidr, vm.vm_id)  # the incoming QEMU's tap
        assert wait_for(lambda: vm.installed(h3), 5), "destination port not installed"
        seen["bound"] = ovn.port_chassis(vm.port["id"])
        time.sleep(0.5)  # memory copy
        h2.detach(vm.dev)  # switch-over: the source QEMU stops
        send_rarp(dest_guest, vm.mac, 3)  # QEMU's announce
        after = run_hook("after_device_migrate_destination", "", config=dst_config, device_properties=vm.props,
                         vm_id=vm.vm_id)
        assert after.rc == 0, after.stderr
        seen["end"] = lsp_options(ovn, vm.port["id"])

    sent, lost, dups = pings_during(client.guest, vm.ip, migrate, interval=0.1, before=1.0, after=3.0)
    print(f"live migration {src} -> {dst}: {sent} pings every 100 ms, {lost} lost, {dups} duplicates")
    assert seen["start"] == {"requested-chassis": f"{src},{dst}", "activation-strategy": "rarp"}
    assert seen["bound"] == (src, dst)
    assert seen["end"] == {"requested-chassis": dst}  # narrowed by the destination's hook
    assert dups == 0
    assert lost <= 5
    assert wait_for(lambda: ovn.port_chassis(vm.port["id"]) == (dst, ""), 5), ovn.port_chassis(vm.port["id"])
    changes = [line for h in (h2, h3) for line in h.controller_log()[logs[h.name]:].splitlines()
               if "Changing chassis" in line]
    print("chassis changes in ovn-controller logs:", changes)
    assert not changes
    assert client.guest.ping(vm.ip)


def test_caps_name_the_chassis_and_overlay_vnics_go_to_br_int(ovn, run_hook, config):
    from vif_driver.tools.sandbox.hosts import engine_interface, read_interface
    h2 = list(ovn.hosts.values())[1]
    caps = run_hook("after_get_caps", {}, config=config(h2))
    assert caps.rc == 0, caps.stderr
    doc = caps.json()
    assert doc["openstack_binding_host_ids"] == {"OPEN_VSWITCH": h2.system_id, "OVIRT_PROVIDER_OVN": h2.system_id}
    assert doc["vif_driver"]["drivers"]["ovs"]["ovn"] == {"chassis": h2.system_id,
                                                          "ovn_remote": "tcp:172.31.254.254:6642"}
    props = {"provider_type": "EXTERNAL_NETWORK", "plugin_type": "OVIRT_PROVIDER_OVN",
             "vnic_id": "6a9f5e2b-71a3-4c1e-9d1b-2f4e6a8c0b13", "network_type": "geneve", "mtu": "1442"}
    plugged = run_hook("before_device_create", engine_interface("02:77:00:00:09:01"), config=h2.write_config(
        str(ovn.dir) + "/noprovider.conf"), device_properties=props)
    assert plugged.rc == 0, plugged.stderr
    attachment = read_interface(plugged.data)
    assert (attachment.bridge, attachment.tag, attachment.mtu) == ("br-int", None, 1442)


def test_a_port_off_the_integration_bridge_is_not_waited_for(ovn, neutron, boot):
    """On an OVN chassis only ports on ovn-bridge (br-int) get flows from
    ovn-controller: a vNIC on another bridge is confirmed without it."""
    h1 = list(ovn.hosts.values())[0]
    h1.box.add_bridge("br-loc")
    start = time.monotonic()
    vm = boot(h1, network(neutron, "netl"), "l1", props={"bridge": "br-loc"}, bound_to="nowhere")
    assert vm.attachment.bridge == "br-loc"
    assert time.monotonic() - start < 4 and not vm.installed()


def test_a_vlan_network_of_ovn_is_plugged_on_br_int_like_an_overlay(ovn, neutron, boot):
    """OVN carries vlan and flat networks too (a localnet port; the hosts
    map the physnet with ovn-bridge-mappings): the provider marks its ports
    controller=ovn, and the driver plugs them on br-int untagged and waits
    for ovn-installed, although no bridge_mappings maps physnet1 here."""
    h1 = list(ovn.hosts.values())[0]
    net = network(neutron, "netv", **{"provider:network_type": "vlan", "provider:physical_network": "physnet1",
                                      "provider:segmentation_id": 312})
    vm = boot(h1, net, "v1")
    assert vm.port["binding:vif_details"]["controller"] == "ovn"
    assert vm.port["binding:vif_details"]["network_type"] == "vlan"
    assert (vm.attachment.bridge, vm.attachment.tag) == ("br-int", None)
    assert vm.installed()


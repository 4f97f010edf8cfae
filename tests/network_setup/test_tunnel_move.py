"""underlay=tunnel on a simulated OVN cluster (two chassis, Geneve): the
network given the property in a network setup holds the tunnel endpoint
afterwards; ovn-encap-ip follows it, the other chassis retunnels, and the
VMs across the hosts still reach each other after the old address is gone."""

import json
import os

import pytest

from ns_helpers import REMOVE, net, request, write_running
from ovn_helpers import Vm, network, running_cluster, wait_for

pytestmark = [pytest.mark.ovn, pytest.mark.ovs, pytest.mark.netns, pytest.mark.root, pytest.mark.provider]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    from vif_driver.tools.sandbox.provider import ProviderProcess
    with running_cluster(str(tmp_path_factory.mktemp("ovnns")), 2) as ovn:
        with ProviderProcess(str(tmp_path_factory.mktemp("nsprov")), ovn_nb=ovn.nb_remote) as provider:
            from neutronclient.v2_0 import client
            yield ovn, provider, client.Client(endpoint_url=provider.url, auth_strategy="noauth", timeout=10)


def _boot(run_hook, ovn, neutron, host, config, net_, name):
    vm = Vm.create(neutron, net_, name, host, config)
    vm.plugged = run_hook("before_device_create", vm.engine_xml, config=config, device_properties=vm.props,
                          vm_id=vm.vm_id)
    assert vm.plugged.rc == 0, vm.plugged.stderr
    vm.guest = ovn.add_guest(name)
    vm.attachment = host.attach(vm.guest, vm.plugged.data, vm.cidr, vm.vm_id)
    vm.confirmed = run_hook("after_device_create", "", config=config, device_properties=vm.props,
                            vm_id=vm.vm_id)
    assert vm.confirmed.rc == 0, vm.confirmed.stderr
    return vm


def test_underlay_tunnel_moves_ovn_encap_ip_and_tunnels_keep_working(cluster, run_hook, dirs, tmp_path):
    ovn, provider, neutron = cluster
    h1, h2 = ovn.hosts.values()
    netconf, state, env = dirs
    c1 = h1.write_config(str(tmp_path / "h1.conf"), provider_url=provider.url)
    c2 = h2.write_config(str(tmp_path / "h2.conf"), provider_url=provider.url)
    net_ = network(neutron, "nsnet")
    vms = []
    try:
        vms.append(_boot(run_hook, ovn, neutron, h1, c1, net_, "t1"))
        vms.append(_boot(run_hook, ovn, neutron, h2, c2, net_, "t2"))
        v1, v2 = vms
        assert v2.guest.ping(v1.ip)
        old = h1.box.vsctl("get", "Open_vSwitch", ".", "external_ids:ovn-encap-ip").strip().strip('"')
        new = old.rsplit(".", 1)[0] + ".100"
        # VDSM's view of h1: the tunnel network on the uplink bridge
        write_running(netconf, {"ovn-tunnel": net("br-phys1", ipaddr=old)})
        env["VIF_DRIVER_CONFIG"] = c1

        removal = json.dumps(request({"ovn-tunnel": REMOVE}))
        refused = run_hook("before_network_setup", removal, env=env)
        assert refused.rc == 2 and "1 external vNIC" in refused.stderr, refused.stderr

        data = request({"ovn-tunnel": REMOVE, "ovn-tun2": net("br-phys1", ipaddr=new,
                                                              custom={"underlay": "tunnel"})})
        before = run_hook("before_network_setup", json.dumps(data), env=env)
        assert before.rc == 0, before.stderr
        # VDSM configures the request: the old network's address gone, the new one's there
        # (in this order: deleting a subnet's primary address takes its secondaries along)
        h1.ns.ip("addr", "del", old + "/24", "dev", "br-phys1")
        h1.ns.address("br-phys1", new + "/24")
        os.unlink(os.path.join(netconf, "nets", "ovn-tunnel"))
        write_running(netconf, {"ovn-tun2": data["request"]["networks"]["ovn-tun2"]})
        after = run_hook("after_network_setup", json.dumps(data), env=env)
        assert after.rc == 0, after.stderr

        got = h1.box.vsctl("get", "Open_vSwitch", ".", "external_ids:ovn-encap-ip").strip().strip('"')
        assert got == new
        recorded = json.load(open(os.path.join(state, "underlays.json"), encoding="utf-8"))
        assert recorded["tunnel"] == {"network": "ovn-tun2", "device": "br-phys1", "address": new}
        # the other chassis follows h1's Encap: its tunnel port points at the new address
        assert wait_for(lambda: new in h2.box.vsctl("--bare", "--columns=options", "list", "Interface"), 20)
        h2.ns.exec(["ping", "-n", "-q", "-c", "1", "-W", "1", new], timeout=5, check=False)  # ARP, as at start
        assert wait_for(lambda: v2.guest.ping(v1.ip, count=1), 20), "no ping across the moved tunnel"
        assert v1.guest.ping(v2.ip)
        # the moved endpoint is guarded in turn
        again = run_hook("before_network_setup", json.dumps(request({"ovn-tun2": REMOVE})), env=env)
        assert again.rc == 2 and "ovn-tun2" in again.stderr, again.stderr
    finally:
        for vm in vms:
            vm.remove(ovn, neutron)

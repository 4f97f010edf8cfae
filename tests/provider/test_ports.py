"""Ports: IP allocation, MACs, bindings, filters, errors."""

import re

import pytest
from neutronclient.common import exceptions as nexc


def port(neutron, net, **attrs):
    return neutron.create_port({"port": {"network_id": net["id"],
                                         **attrs}})["port"]


def test_defaults_allocation_and_binding(neutron, network):
    net, sub = network
    p1 = port(neutron, net, name="nic1", device_owner="oVirt",
              device_id="5cc10431-0b25-41bd-941c-3a1aed8edd87")
    p2 = port(neutron, net)
    assert re.fullmatch(r"fa:16:3e(:[0-9a-f]{2}){3}", p1["mac_address"])
    assert p1["mac_address"] != p2["mac_address"]
    # the gateway (.1) is not in the default pool
    assert p1["fixed_ips"] == [{"subnet_id": sub["id"],
                                "ip_address": "10.9.0.2"}]
    assert p2["fixed_ips"][0]["ip_address"] == "10.9.0.3"
    assert p1["status"] == "DOWN" and p1["admin_state_up"] is True
    assert p1["binding:vif_type"] == "ovs"
    assert p1["binding:vif_details"]["bridge_name"] == "br-int"
    assert p1["port_security_enabled"] is True
    assert neutron.show_port(p1["id"])["port"] == p1


def test_bind_to_host_makes_it_active(neutron, network, provider):
    net, _ = network
    p = port(neutron, net)
    upd = neutron.update_port(p["id"], {"port": {
        "binding:host_id": "host-1", "device_id": "vm-x",
        "security_groups": ["default"], "binding:profile": {"a": 1}}})["port"]
    # On OVN a port is ACTIVE once OVN says it is up (test_ovn.py).
    want = "DOWN" if provider.backend == "ovn" else "ACTIVE"
    assert upd["status"] == want and upd["binding:host_id"] == "host-1"
    assert upd["device_id"] == "vm-x" and upd["binding:profile"] == {"a": 1}
    down = neutron.update_port(p["id"], {"port": {
        "admin_state_up": False}})["port"]
    assert down["status"] == "DOWN"


def test_bridge_per_network(neutron):
    net = neutron.create_network({"network": {
        "vif_driver:bridge_name": "br-ext"}})["network"]
    p = port(neutron, net)
    assert p["binding:vif_details"]["bridge_name"] == "br-ext"
    assert p["fixed_ips"] == []  # no subnet, no address


def test_explicit_ip_and_mac(neutron, network):
    net, sub = network
    p = port(neutron, net, mac_address="00:1A:4A:16:01:59",
             fixed_ips=[{"ip_address": "10.9.0.200"}])
    assert p["mac_address"] == "00:1a:4a:16:01:59"
    assert p["fixed_ips"] == [{"subnet_id": sub["id"],
                               "ip_address": "10.9.0.200"}]
    with pytest.raises(nexc.MacAddressInUseClient):
        port(neutron, net, mac_address="00:1a:4a:16:01:59")
    with pytest.raises(nexc.IpAddressInUseClient):
        port(neutron, net, fixed_ips=[{"subnet_id": sub["id"],
                                       "ip_address": "10.9.0.200"}])
    # the same MAC is fine on another network (unique per network)
    other = neutron.create_network({"network": {}})["network"]
    assert port(neutron, other, mac_address="00:1a:4a:16:01:59")


@pytest.mark.parametrize("attrs", [
    {"mac_address": "zz:16:3e:00:00:01"},
    {"mac_address": "01:00:5e:00:00:01"},         # multicast
    {"mac_address": "00:00:00:00:00:00"},
    {"fixed_ips": [{"ip_address": "10.10.0.5"}]},  # not on this network
    {"fixed_ips": [{"ip_address": "10.9.0.255"}]},  # broadcast
    {"fixed_ips": [{"ip_address": "not-an-ip"}]},
    {"fixed_ips": [{}]},
    {"fixed_ips": [{"subnet": "x"}]},
    {"fixed_ips": "10.9.0.5"},
    {"admin_state_up": "nope"},
    {"binding:vnic_type": "weird"},
    {"vlan": 3},
    {"binding:vif_type": "bridge"},
])
def test_bad_port_input_is_400(neutron, network, attrs):
    net, _ = network
    with pytest.raises(nexc.BadRequest):
        port(neutron, net, **attrs)


def test_port_on_missing_network_is_404(neutron):
    with pytest.raises(nexc.NetworkNotFoundClient):
        neutron.create_port({"port": {
            "network_id": "6f1c9a3e-0000-4000-8000-000000000000"}})


def test_subnet_of_other_network_is_rejected(neutron, network):
    net, _ = network
    other = neutron.create_network({"network": {}})["network"]
    foreign = neutron.create_subnet({"subnet": {
        "network_id": other["id"], "cidr": "10.44.0.0/24"}})["subnet"]
    with pytest.raises(nexc.BadRequest):
        port(neutron, net, fixed_ips=[{"subnet_id": foreign["id"]}])


def test_exhaustion_reuse_and_update_fixed_ips(neutron):
    net = neutron.create_network({"network": {}})["network"]
    sub = neutron.create_subnet({"subnet": {
        "network_id": net["id"], "cidr": "10.3.3.0/29"}})["subnet"]
    # .2 - .6 (gateway .1): five addresses
    ports = [port(neutron, net) for _ in range(5)]
    assert [p["fixed_ips"][0]["ip_address"] for p in ports] == \
        [f"10.3.3.{i}" for i in range(2, 7)]
    with pytest.raises(nexc.IpAddressGenerationFailureClient):
        port(neutron, net)
    neutron.delete_port(ports[1]["id"])          # frees .3
    assert port(neutron, net)["fixed_ips"][0]["ip_address"] == "10.3.3.3"
    # keep the subnet's address when only subnet_id is named
    same = neutron.update_port(ports[0]["id"], {"port": {
        "fixed_ips": [{"subnet_id": sub["id"]}]}})["port"]
    assert same["fixed_ips"][0]["ip_address"] == "10.3.3.2"
    neutron.delete_port(ports[4]["id"])          # frees .6
    moved = neutron.update_port(ports[0]["id"], {"port": {
        "fixed_ips": [{"ip_address": "10.3.3.6"}]}})["port"]
    assert moved["fixed_ips"][0]["ip_address"] == "10.3.3.6"
    assert port(neutron, net)["fixed_ips"][0]["ip_address"] == "10.3.3.2"
    cleared = neutron.update_port(ports[2]["id"], {"port": {
        "fixed_ips": []}})["port"]
    assert cleared["fixed_ips"] == []


def test_update_rules(neutron, network):
    net, _ = network
    p = port(neutron, net)
    q = port(neutron, net)
    with pytest.raises(nexc.BadRequest):
        neutron.update_port(p["id"], {"port": {"network_id": net["id"]}})
    with pytest.raises(nexc.BadRequest):
        neutron.update_port(p["id"], {"port": {"status": "ACTIVE"}})
    with pytest.raises(nexc.MacAddressInUseClient):
        neutron.update_port(p["id"], {"port": {
            "mac_address": q["mac_address"]}})
    with pytest.raises(nexc.IpAddressInUseClient):
        neutron.update_port(p["id"], {"port": {"fixed_ips": [
            {"ip_address": q["fixed_ips"][0]["ip_address"]}]}})
    # a failed update changes nothing (one transaction per request)
    assert neutron.show_port(p["id"])["port"]["fixed_ips"] == p["fixed_ips"]
    with pytest.raises(nexc.PortNotFoundClient):
        neutron.update_port("b3c07a52-0000-4000-8000-000000000000",
                            {"port": {"name": "x"}})


def test_delete(neutron, network):
    net, _ = network
    p = port(neutron, net)
    neutron.delete_port(p["id"])
    with pytest.raises(nexc.PortNotFoundClient):
        neutron.show_port(p["id"])
    with pytest.raises(nexc.PortNotFoundClient):
        neutron.delete_port(p["id"])


def test_list_filters(neutron, network):
    net, sub = network
    a = port(neutron, net, name="fa", device_id="vm-a", device_owner="oVirt")
    b = port(neutron, net, name="fb", device_id="vm-b", device_owner="oVirt")
    c = port(neutron, net, name="fc", device_id="vm-a",
             device_owner="compute:nova")

    def ids(**filters):
        return [p["id"] for p in neutron.list_ports(**filters)["ports"]]

    assert ids(device_id="vm-a") == [a["id"], c["id"]]
    assert ids(device_id=["vm-a", "vm-b"], device_owner="oVirt") == \
        [a["id"], b["id"]]
    assert ids(network_id=net["id"]) == [a["id"], b["id"], c["id"]]
    assert ids(mac_address=b["mac_address"].upper()) == [b["id"]]
    assert ids(id=[a["id"], c["id"]]) == [a["id"], c["id"]]
    assert ids(name="fc") == [c["id"]]
    assert ids(device_id="nobody") == []
    ip = b["fixed_ips"][0]["ip_address"]
    assert ids(network_id=net["id"], fixed_ips=f"ip_address={ip}") == \
        [b["id"]]
    assert ids(network_id=net["id"],
               fixed_ips=f"subnet_id={sub['id']}") == [a["id"], b["id"],
                                                       c["id"]]
    assert ids(network_id=net["id"], admin_state_up=True) == \
        [a["id"], b["id"], c["id"]]
    fields = neutron.list_ports(id=a["id"], fields=["id", "mac_address"])
    assert fields["ports"] == [{"id": a["id"],
                                "mac_address": a["mac_address"]}]


def test_bulk_create(neutron, network):
    net, _ = network
    made = neutron.create_port({"ports": [{"network_id": net["id"],
                                           "name": f"bulk{i}"}
                                          for i in range(3)]})["ports"]
    assert [p["name"] for p in made] == ["bulk0", "bulk1", "bulk2"]
    assert len({p["fixed_ips"][0]["ip_address"] for p in made}) == 3
    # one bad item rolls back the whole bulk request
    before = len(neutron.list_ports(network_id=net["id"])["ports"])
    with pytest.raises(nexc.BadRequest):
        neutron.create_port({"ports": [{"network_id": net["id"]},
                                       {"network_id": net["id"],
                                        "mac_address": "bad"}]})
    with pytest.raises(nexc.MacAddressInUseClient):
        neutron.create_port({"ports": [
            {"network_id": net["id"], "mac_address": "02:00:00:00:00:01"},
            {"network_id": net["id"], "mac_address": "02:00:00:00:00:01"}]})
    assert len(neutron.list_ports(network_id=net["id"])["ports"]) == before

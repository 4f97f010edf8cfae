"""Subnets: ipaddress-validated cidr, gateway, pools, DNS and routes."""

import pytest
from neutronclient.common import exceptions as nexc


def new_net(neutron):
    return neutron.create_network({"network": {"name": "s"}})["network"]


def create(neutron, net, **attrs):
    return neutron.create_subnet({"subnet": {"network_id": net["id"],
                                             **attrs}})["subnet"]


def test_ipv4_defaults(neutron):
    net = new_net(neutron)
    sub = create(neutron, net, cidr="192.168.10.0/24", ip_version=4)
    assert sub["gateway_ip"] == "192.168.10.1"
    assert sub["allocation_pools"] == [{"start": "192.168.10.2",
                                        "end": "192.168.10.254"}]
    assert sub["enable_dhcp"] is True and sub["dns_nameservers"] == []
    assert neutron.show_network(net["id"])["network"]["subnets"] == \
        [sub["id"]]
    assert neutron.show_subnet(sub["id"])["subnet"] == sub


def test_ipv6_with_everything(neutron):
    net = new_net(neutron)
    sub = create(neutron, net, cidr="2001:db8:1::/64", ip_version=6,
                 gateway_ip="2001:db8:1::ff", enable_dhcp=False,
                 dns_nameservers=["2001:db8::53", "9.9.9.9"],
                 host_routes=[{"destination": "2001:db8:9::/48",
                               "nexthop": "2001:db8:1::fe"}],
                 allocation_pools=[{"start": "2001:db8:1::100",
                                    "end": "2001:0db8:1::1ff"}],
                 ipv6_address_mode="dhcpv6-stateful",
                 ipv6_ra_mode="dhcpv6-stateful")
    assert sub["ip_version"] == 6 and sub["enable_dhcp"] is False
    assert sub["allocation_pools"] == [{"start": "2001:db8:1::100",
                                        "end": "2001:db8:1::1ff"}]
    assert sub["dns_nameservers"] == ["2001:db8::53", "9.9.9.9"]
    assert sub["host_routes"][0]["nexthop"] == "2001:db8:1::fe"
    port = neutron.create_port({"port": {"network_id": net["id"]}})["port"]
    assert port["fixed_ips"] == [{"subnet_id": sub["id"],
                                  "ip_address": "2001:db8:1::100"}]


def test_no_gateway_gives_whole_range(neutron):
    net = new_net(neutron)
    sub = create(neutron, net, cidr="10.1.2.0/29", gateway_ip=None)
    assert sub["gateway_ip"] is None
    assert sub["allocation_pools"] == [{"start": "10.1.2.1",
                                        "end": "10.1.2.6"}]


def test_gateway_inside_range_splits_default_pool(neutron):
    net = new_net(neutron)
    sub = create(neutron, net, cidr="10.1.3.0/28", gateway_ip="10.1.3.5")
    assert sub["allocation_pools"] == [
        {"start": "10.1.3.1", "end": "10.1.3.4"},
        {"start": "10.1.3.6", "end": "10.1.3.14"}]


@pytest.mark.parametrize("attrs,expected_type", [
    ({"cidr": "10.0.0.300/24"}, "InvalidInput"),
    ({"cidr": "10.0.0.1/24"}, "InvalidInput"),            # host bits set
    ({"cidr": "nonsense"}, "InvalidInput"),
    ({"cidr": "10.0.0.0/24", "ip_version": 6}, "InvalidInput"),
    ({"cidr": "10.0.0.0/24", "ip_version": 5}, "InvalidInput"),
    ({"cidr": "10.0.0.0/24", "gateway_ip": "10.0.1.1"}, "InvalidInput"),
    ({"cidr": "10.0.0.0/24", "gateway_ip": "10.0.0.255"}, "InvalidInput"),
    ({"cidr": "10.0.0.0/24", "dns_nameservers": ["8.8.8.256"]},
     "InvalidInput"),
    ({"cidr": "10.0.0.0/24", "dns_nameservers": ["8.8.8.8", "8.8.8.8"]},
     "InvalidInput"),
    ({"cidr": "10.0.0.0/24", "host_routes": [{"destination": "x",
                                              "nexthop": "10.0.0.9"}]},
     "InvalidInput"),
    ({"cidr": "10.0.0.0/24", "allocation_pools": [
        {"start": "10.0.0.10", "end": "10.0.0.20"},
        {"start": "10.0.0.20", "end": "10.0.0.30"}]},
     "OverlappingAllocationPools"),
    ({"cidr": "10.0.0.0/24", "allocation_pools": [
        {"start": "10.0.0.1", "end": "10.0.0.20"}]},
     "GatewayConflictWithAllocationPools"),
    ({"cidr": "10.0.0.0/24", "allocation_pools": [
        {"start": "10.0.0.10", "end": "10.0.1.20"}]},
     "OutOfBoundsAllocationPool"),
    ({"cidr": "10.0.0.0/24", "allocation_pools": [
        {"start": "10.0.0.30", "end": "10.0.0.20"}]},
     "OutOfBoundsAllocationPool"),
    ({"cidr": "10.0.0.0/24", "allocation_pools": [{"start": "10.0.0.30"}]},
     "InvalidInput"),
    ({"cidr": "10.0.0.0/24", "ipv6_ra_mode": "slaac"}, "InvalidInput"),
    ({"cidr": "10.0.0.0/24", "color": "red"}, "HTTPBadRequest"),
    ({"ip_version": 4}, "HTTPBadRequest"),                 # no cidr
])
def test_bad_subnet_is_400(provider, neutron, attrs, expected_type):
    net = new_net(neutron)
    with pytest.raises(nexc.BadRequest):
        create(neutron, net, **attrs)
    status, _, body = provider.request(
        "POST", "/v2.0/subnets",
        {"subnet": {"network_id": net["id"], **attrs}})
    assert status == 400
    assert body["NeutronError"]["type"] == expected_type
    assert body["NeutronError"]["message"]


def test_overlapping_subnets_on_one_network(neutron):
    net = new_net(neutron)
    create(neutron, net, cidr="10.5.0.0/16")
    with pytest.raises(nexc.BadRequest):
        create(neutron, net, cidr="10.5.7.0/24")
    other = new_net(neutron)
    assert create(neutron, other, cidr="10.5.7.0/24")["cidr"] == "10.5.7.0/24"


def test_subnet_on_missing_network_is_404(neutron):
    with pytest.raises(nexc.NotFound):
        neutron.create_subnet({"subnet": {
            "network_id": "6f1c9a3e-0000-4000-8000-000000000000",
            "cidr": "10.0.0.0/24"}})


def test_update_and_delete(neutron):
    net = new_net(neutron)
    sub = create(neutron, net, cidr="172.16.0.0/24")
    upd = neutron.update_subnet(sub["id"], {"subnet": {
        "name": "s2", "dns_nameservers": ["1.1.1.1"],
        "enable_dhcp": False}})["subnet"]
    assert (upd["name"], upd["dns_nameservers"], upd["enable_dhcp"]) == \
        ("s2", ["1.1.1.1"], False)
    with pytest.raises(nexc.BadRequest):
        neutron.update_subnet(sub["id"], {"subnet": {"cidr": "10.0.0.0/8"}})
    with pytest.raises(nexc.BadRequest):
        neutron.update_subnet(sub["id"], {"subnet": {
            "gateway_ip": "172.16.0.50"}})  # inside the pool
    port = neutron.create_port({"port": {"network_id": net["id"]}})["port"]
    with pytest.raises(nexc.Conflict):
        neutron.delete_subnet(sub["id"])
    neutron.delete_port(port["id"])
    neutron.delete_subnet(sub["id"])
    with pytest.raises(nexc.NotFound):
        neutron.show_subnet(sub["id"])


def test_list_filters(neutron):
    net = new_net(neutron)
    a = create(neutron, net, cidr="10.77.1.0/24")
    b = create(neutron, net, cidr="fd77::/64", ip_version=6)
    got = neutron.list_subnets(network_id=net["id"])["subnets"]
    assert [s["id"] for s in got] == [a["id"], b["id"]]
    v6 = neutron.list_subnets(network_id=net["id"], ip_version=6)["subnets"]
    assert [s["id"] for s in v6] == [b["id"]]
    by_cidr = neutron.list_subnets(cidr=["10.77.1.0/24", "fd77::/64"])
    assert {s["id"] for s in by_cidr["subnets"]} == {a["id"], b["id"]}


def test_update_allocation_pools(neutron):
    net = new_net(neutron)
    sub = create(neutron, net, cidr="172.17.0.0/24")
    ports = [neutron.create_port({"port": {"network_id": net["id"]}})[
        "port"] for _ in range(2)]
    assert [p["fixed_ips"][0]["ip_address"] for p in ports] == \
        ["172.17.0.2", "172.17.0.3"]
    pools = [{"start": "172.17.0.100", "end": "172.17.0.101"},
             {"start": "172.17.0.10", "end": "172.17.0.20"}]
    upd = neutron.update_subnet(sub["id"], {"subnet": {
        "allocation_pools": pools}})["subnet"]
    assert upd["allocation_pools"] == [
        {"start": "172.17.0.100", "end": "172.17.0.101"},
        {"start": "172.17.0.10", "end": "172.17.0.20"}]
    assert neutron.show_subnet(sub["id"])["subnet"]["allocation_pools"] == \
        upd["allocation_pools"]
    # existing addresses stay with their ports; new ones come from the pools
    kept = neutron.show_port(ports[0]["id"])["port"]["fixed_ips"]
    assert kept[0]["ip_address"] == "172.17.0.2"
    new = [neutron.create_port({"port": {"network_id": net["id"]}})[
        "port"]["fixed_ips"][0]["ip_address"] for _ in range(3)]
    assert new == ["172.17.0.100", "172.17.0.101", "172.17.0.10"]


@pytest.mark.parametrize("pools,etype,words", [
    ([{"start": "172.18.0.10", "end": "172.18.1.5"}],
     "OutOfBoundsAllocationPool", "spans beyond"),
    ([{"start": "172.18.0.0", "end": "172.18.0.5"}],
     "OutOfBoundsAllocationPool", "spans beyond"),        # network address
    ([{"start": "172.18.0.10", "end": "172.18.0.20"},
      {"start": "172.18.0.15", "end": "172.18.0.30"}],
     "OverlappingAllocationPools", "overlapping"),
    ([{"start": "172.18.0.1", "end": "172.18.0.9"}],
     "GatewayConflictWithAllocationPools", "172.18.0.1"),  # the gateway
    ([{"start": "172.18.0.9", "end": "172.18.0.2"}],
     "OutOfBoundsAllocationPool", "spans beyond"),        # reversed
    ([{"start": "fd00::1", "end": "fd00::9"}],
     "OutOfBoundsAllocationPool", "spans beyond"),
    ([{"start": "172.18.0.9"}], "InvalidInput", "allocation_pools"),
    ("172.18.0.9", "InvalidInput", "allocation_pools"),
])
def test_bad_allocation_pool_update_is_400(provider, neutron, pools, etype,
                                           words):
    net = new_net(neutron)
    sub = create(neutron, net, cidr="172.18.0.0/24")
    status, _, body = provider.request(
        "PUT", f"/v2.0/subnets/{sub['id']}",
        {"subnet": {"allocation_pools": pools}})
    assert status == 400
    err = body["NeutronError"]
    assert err["type"] == etype and words in err["message"]
    assert neutron.show_subnet(sub["id"])["subnet"]["allocation_pools"] == \
        sub["allocation_pools"]


def test_gateway_and_pools_updated_together(neutron):
    net = new_net(neutron)
    sub = create(neutron, net, cidr="172.19.0.0/24")
    upd = neutron.update_subnet(sub["id"], {"subnet": {
        "gateway_ip": "172.19.0.254",
        "allocation_pools": [{"start": "172.19.0.1",
                              "end": "172.19.0.253"}]}})["subnet"]
    assert upd["gateway_ip"] == "172.19.0.254"
    with pytest.raises(nexc.BadRequest):  # the new pool holds the gateway
        neutron.update_subnet(sub["id"], {"subnet": {
            "gateway_ip": "172.19.0.5"}})

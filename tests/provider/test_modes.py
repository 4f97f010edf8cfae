"""Read-only mode, restart persistence and concurrent port creation."""

import concurrent.futures
import threading

import pytest
from neutronclient.common import exceptions as nexc

from vif_driver.provider import validation
from vif_driver.provider.store import Store


def seed(db):
    """A network with a subnet, written straight through the store."""
    store = Store(str(db))
    with store.write() as tx:
        net = tx.create_network(validation.parse(
            "network", {"network": {"name": "seeded"}})[0])
        sub = tx.create_subnet(validation.parse("subnet", {"subnet": {
            "network_id": net["id"], "cidr": "10.20.0.0/24"}})[0])
    return net, sub


def test_read_only_mode(tmp_path, start_provider, make_neutron):
    db = tmp_path / "ro.sqlite"
    net, sub = seed(db)
    p = start_provider("--read-only", db=db)
    neutron = make_neutron(p)
    denied = [
        lambda: neutron.create_network({"network": {"name": "x"}}),
        lambda: neutron.update_network(net["id"], {"network": {"name": "x"}}),
        lambda: neutron.delete_network(net["id"]),
        lambda: neutron.create_subnet({"subnet": {
            "network_id": net["id"], "cidr": "10.21.0.0/24"}}),
        lambda: neutron.update_subnet(sub["id"], {"subnet": {"name": "x"}}),
        lambda: neutron.delete_subnet(sub["id"]),
    ]
    for call in denied:
        with pytest.raises(nexc.Forbidden):
            call()
    status, _, body = p.request("DELETE", f"/v2.0/networks/{net['id']}")
    assert status == 403
    assert body["NeutronError"]["type"] == "PolicyNotAuthorized"
    # reads work, and ports can be created, changed and deleted
    assert neutron.show_network(net["id"])["network"]["subnets"] == \
        [sub["id"]]
    port = neutron.create_port({"port": {"network_id": net["id"]}})["port"]
    assert port["fixed_ips"][0]["ip_address"] == "10.20.0.2"
    neutron.update_port(port["id"], {"port": {"device_id": "vm"}})
    neutron.delete_port(port["id"])
    assert neutron.show_network(net["id"])["network"]["name"] == "seeded"


def test_data_survives_restart(tmp_path, start_provider, make_neutron):
    db = tmp_path / "persist.sqlite"
    first = start_provider(db=db)
    neutron = make_neutron(first)
    net = neutron.create_network({"network": {
        "name": "keep", "provider:network_type": "vlan",
        "provider:physical_network": "phys", "provider:segmentation_id": 42,
        "vif_driver:bridge_name": "br-keep"}})["network"]
    sub = neutron.create_subnet({"subnet": {
        "network_id": net["id"], "cidr": "fd00:42::/64",
        "ip_version": 6}})["subnet"]
    port = neutron.create_port({"port": {"network_id": net["id"],
                                         "device_id": "vm42"}})["port"]
    first.stop()

    second = start_provider(db=db)
    neutron = make_neutron(second)
    assert neutron.show_network(net["id"])["network"] == net | {
        "subnets": [sub["id"]]}
    assert neutron.show_subnet(sub["id"])["subnet"] == sub
    assert neutron.list_ports(device_id="vm42")["ports"] == [port]
    again = neutron.create_port({"port": {"network_id": net["id"]}})["port"]
    assert again["fixed_ips"][0]["ip_address"] != \
        port["fixed_ips"][0]["ip_address"]
    assert again["binding:vif_details"]["bridge_name"] == "br-keep"


def test_20_concurrent_clients_get_unique_ips_and_macs(provider,
                                                       make_neutron):
    neutron = make_neutron(provider)
    net = neutron.create_network({"network": {"name": "busy"}})["network"]
    neutron.create_subnet({"subnet": {"network_id": net["id"],
                                      "cidr": "10.200.0.0/24"}})
    start = threading.Barrier(20)

    def client(n):
        own = make_neutron(provider)
        start.wait(timeout=30)
        return [own.create_port({"port": {
            "network_id": net["id"], "device_id": f"vm{n}"}})["port"]
            for _ in range(5)]

    with concurrent.futures.ThreadPoolExecutor(20) as pool:
        made = [p for ports in pool.map(client, range(20)) for p in ports]
    assert len(made) == 100
    ips = [p["fixed_ips"][0]["ip_address"] for p in made]
    macs = [p["mac_address"] for p in made]
    assert len(set(ips)) == 100 and len(set(macs)) == 100
    listed = neutron.list_ports(network_id=net["id"])["ports"]
    assert sorted(p["fixed_ips"][0]["ip_address"] for p in listed) == \
        sorted(ips)
    assert set(ips) == {f"10.200.0.{i}" for i in range(2, 102)}


def test_concurrent_writers_on_one_mac_and_ip_one_wins_each(provider,
                                                         make_neutron):
    """Writers that collide (same MAC, same fixed IP) at the same moment:
    exactly one of each group gets it, the others a 409, and the refused
    requests leave nothing behind (on OVN they may share one transaction
    with the winners: group commit, each body in a savepoint)."""
    neutron = make_neutron(provider)
    net = neutron.create_network({"network": {"name": "clash"}})["network"]
    sub = neutron.create_subnet({"subnet": {"network_id": net["id"],
                                            "cidr": "10.201.0.0/24"}})["subnet"]
    start = threading.Barrier(16)

    def client(n):
        own = make_neutron(provider)
        attrs = {"network_id": net["id"], "device_id": f"vm{n}"}
        if n % 2:
            attrs["mac_address"] = "fa:16:3e:00:00:42"
        else:
            attrs["fixed_ips"] = [{"subnet_id": sub["id"], "ip_address": "10.201.0.42"}]
        start.wait(timeout=30)
        try:
            return own.create_port({"port": attrs})["port"]
        except (nexc.MacAddressInUseClient, nexc.IpAddressInUseClient):
            return None

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        made = list(pool.map(client, range(16)))
    won = [p for p in made if p is not None]
    assert len(won) == 2
    assert {p["mac_address"] == "fa:16:3e:00:00:42" for p in won} == {True, False}
    listed = neutron.list_ports(network_id=net["id"])["ports"]
    assert sorted(p["id"] for p in listed) == sorted(p["id"] for p in won)
    ips = [ip["ip_address"] for p in listed for ip in p["fixed_ips"]]
    assert len(ips) == len(set(ips)) == 2 and "10.201.0.42" in ips

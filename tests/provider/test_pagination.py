"""limit, marker, page_reverse, sort_key, sort_dir and <coll>_links,
checked with real clients (python-neutronclient, openstacksdk) and raw
HTTP, on networks, subnets and ports."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest


@pytest.fixture(scope="module")
def net(neutron):
    """A network of its own with seven ports named p0..p6."""
    net = neutron.create_network({"network": {"name": "paged"}})["network"]
    ports = [neutron.create_port({"port": {
        "network_id": net["id"], "name": f"p{i}",
        "device_id": "even" if i % 2 == 0 else "odd"}})["port"]
        for i in range(7)]
    return net, ports


def names(items):
    return [i["name"] for i in items]


def test_neutronclient_follows_next_links(neutron, net):
    network, ports = net
    got = neutron.list_ports(network_id=network["id"], limit=2)["ports"]
    assert [p["id"] for p in got] == [p["id"] for p in ports]
    pages = list(neutron.list_ports(network_id=network["id"], limit=3,
                                    retrieve_all=False))
    assert [names(p["ports"]) for p in pages] == \
        [["p0", "p1", "p2"], ["p3", "p4", "p5"], ["p6"]]
    links = [p.get("ports_links") for p in pages]
    assert [sorted(lk["rel"] for lk in page) for page in links] == \
        [["next"], ["next", "previous"], ["previous"]]


def test_sort_keys_and_directions(neutron, net):
    network, _ = net
    got = neutron.list_ports(network_id=network["id"],
                             sort_key=["device_id", "name"],
                             sort_dir=["desc", "asc"])["ports"]
    assert names(got) == ["p1", "p3", "p5", "p0", "p2", "p4", "p6"]
    # paging through a sorted list neither skips nor repeats (ties on
    # device_id are broken by creation order)
    paged = neutron.list_ports(network_id=network["id"], limit=2,
                               sort_key="device_id", sort_dir="desc")
    assert names(paged["ports"]) == ["p1", "p3", "p5", "p0", "p2", "p4",
                                     "p6"]


def test_page_reverse_and_previous_links(provider, net):
    network, ports = net
    base = f"/v2.0/ports?network_id={network['id']}&limit=3"
    status, _, body = provider.request("GET", base + "&page_reverse=True")
    assert status == 200
    assert names(body["ports"]) == ["p4", "p5", "p6"]  # the last page
    rels = {lk["rel"]: lk["href"] for lk in body["ports_links"]}
    assert set(rels) == {"previous"}
    prev = urlparse(rels["previous"])
    query = parse_qs(prev.query)
    assert prev.path == "/v2.0/ports"
    assert query["marker"] == [ports[4]["id"]]
    assert query["page_reverse"] == ["True"]
    assert query["network_id"] == [network["id"]] and query["limit"] == ["3"]
    status, _, body = provider.request("GET", f"{prev.path}?{prev.query}")
    assert names(body["ports"]) == ["p1", "p2", "p3"]
    # from p1 forward again: the page after p1 starts at p2
    status, _, body = provider.request(
        "GET", f"{base}&marker={ports[1]['id']}")
    assert names(body["ports"]) == ["p2", "p3", "p4"]
    # without limit: no links, the plain Neutron answer
    status, _, body = provider.request(
        "GET", f"/v2.0/ports?network_id={network['id']}&sort_key=name")
    assert set(body) == {"ports"} and len(body["ports"]) == 7


def test_networks_and_subnets_paginate_too(neutron):
    made = [neutron.create_network({"network": {"name": f"pgn-{i}"}})[
        "network"] for i in range(3)]
    for i, n in enumerate(made):
        neutron.create_subnet({"subnet": {"network_id": n["id"],
                                          "name": f"pgs-{i}",
                                          "cidr": f"10.120.{i}.0/24"}})
    ids = [n["id"] for n in made]
    pages = list(neutron.list_networks(id=ids, limit=1, sort_key="name",
                                       sort_dir="desc", retrieve_all=False))
    assert [names(p["networks"]) for p in pages] == \
        [["pgn-2"], ["pgn-1"], ["pgn-0"]]
    assert [p["networks"][0]["subnets"] != [] for p in pages] == [True] * 3
    subnets = neutron.list_subnets(network_id=ids, limit=2,
                                   sort_key="cidr")["subnets"]
    assert names(subnets) == ["pgs-0", "pgs-1", "pgs-2"]


def test_openstacksdk_paginates(provider, net):
    import warnings

    import openstack  # the test extra's openstacksdk
    network, ports = net
    with warnings.catch_warnings():
        # openstacksdk installs its own filters, then warns about its own
        # internals (influxdb, _compute_attributes)
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        conn = openstack.connection.Connection(
            auth_type="none", auth={"endpoint": provider.url},
            network_endpoint_override=provider.url,
            api_timeout=10)
        got = list(conn.network.ports(network_id=network["id"], limit=2))
        nets = list(conn.network.networks(name="paged", limit=1))
    assert [p.id for p in got] == [p["id"] for p in ports]
    assert [n.id for n in nets] == [network["id"]]

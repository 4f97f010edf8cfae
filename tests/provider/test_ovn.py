"""The OVN backend's NB rows: what ovn-northd, ovn-controller and
ovirt-provider-ovn see, read back with ovn-nbctl (the API suite itself runs
on both backends through conftest's ``backend`` fixture)."""

from __future__ import annotations

import json
import os
import signal
import threading
import time

import pytest
from ovn_nb import NbServer


@pytest.fixture(scope="module")
def nb():
    server = NbServer()
    yield server
    server.stop()


@pytest.fixture
def ovn(nb, start_provider, make_neutron):
    # One worker: rows written behind the provider's back (ovn-nbctl, as
    # ovn-northd writes LSP.up) reach each worker's IDL on its own time.
    p = start_provider("--backend", "ovn", "--ovn-nb", nb.remote, "--workers", "1")
    return p, make_neutron(p)


def rows(nb, table: str, *cond: str) -> list[dict]:
    out = json.loads(nb.nbctl("--format=json", "--data=json", "find", table, *cond))
    return [dict(zip(out["headings"], r)) for r in out["data"]]


def omap(value) -> dict:
    return dict(value[1])


def oset(value) -> list:
    return value[1] if isinstance(value, list) and value[0] == "set" else [value]


def lsp(nb, name: str) -> dict:
    found = rows(nb, "Logical_Switch_Port", f"name={name}")
    assert len(found) == 1, found
    return found[0]


def test_network_subnet_port_rows_and_nothing_left(nb, ovn):
    _, neutron = ovn
    net = neutron.create_network({"network": {
        "name": "blue", "provider:network_type": "vlan", "provider:physical_network": "phys1",
        "provider:segmentation_id": 42, "port_security_enabled": True}})["network"]
    ls = rows(nb, "Logical_Switch", f"name=ovirt-blue-{net['id']}")
    assert len(ls) == 1 and ls[0]["_uuid"][1] == net["id"]
    ext = omap(ls[0]["external_ids"])
    assert (ext["ovirt_network_name"], ext["mtu"], ext["ovirt_port_security"]) == ("blue", "1500", "true")
    localnet = rows(nb, "Logical_Switch_Port", "type=localnet")
    assert len(localnet) == 1 and omap(localnet[0]["options"]) == {"network_name": "phys1"}
    assert localnet[0]["tag"] == 42
    sub = neutron.create_subnet({"subnet": {
        "network_id": net["id"], "cidr": "10.20.0.0/24", "dns_nameservers": ["10.20.0.53"],
        "host_routes": [{"destination": "192.168.0.0/16", "nexthop": "10.20.0.254"}]}})["subnet"]
    (dhcp,) = rows(nb, "DHCP_Options", f"cidr={sub['cidr']}")
    assert dhcp["_uuid"][1] == sub["id"]
    opts = omap(dhcp["options"])
    assert opts["router"] == "10.20.0.1" and opts["dns_server"] == "{10.20.0.53}"
    assert opts["server_id"] == "10.20.0.1" and opts["lease_time"] == "86400" and opts["mtu"] == "1500"
    assert opts["classless_static_route"] == "{192.168.0.0/16,10.20.0.254, 0.0.0.0/0,10.20.0.1}"
    assert omap(dhcp["external_ids"])["ovirt_network_id"] == net["id"]
    port = neutron.create_port({"port": {
        "network_id": net["id"], "name": "nic1", "device_owner": "oVirt", "device_id": "vm1",
        "mac_address": "00:1a:4a:16:01:59", "binding:host_id": "host1"}})["port"]
    row = lsp(nb, port["id"])
    ip = port["fixed_ips"][0]["ip_address"]
    assert row["addresses"] == f"00:1a:4a:16:01:59 {ip}" == row["port_security"]
    assert row["enabled"] is True and row["dhcpv4_options"][1] == sub["id"]
    assert omap(row["options"]) == {"requested-chassis": "host1"}
    ext = omap(row["external_ids"])
    assert (ext["ovirt_nic_name"], ext["ovirt_device_id"], ext["ovirt_device_owner"]) == ("nic1", "vm1", "oVirt")
    off = neutron.update_port(port["id"], {"port": {"port_security_enabled": False,
                                                    "admin_state_up": False}})["port"]
    row = lsp(nb, port["id"])
    assert off["status"] == "DOWN" and oset(row["port_security"]) == [] and row["enabled"] is False
    neutron.delete_port(port["id"])
    neutron.delete_subnet(sub["id"])
    neutron.delete_network(net["id"])
    for table in ("Logical_Switch", "Logical_Switch_Port", "DHCP_Options"):
        assert rows(nb, table) == [], table


def wait_for(what, seconds: float = 5.0):
    end = time.monotonic() + seconds
    while True:
        got = what()
        if got or time.monotonic() > end:
            return got
        time.sleep(0.05)


def test_status_follows_ovn_up_and_live_migration(nb, ovn):
    _, neutron = ovn
    net = neutron.create_network({"network": {"name": "mig"}})["network"]
    assert net["provider:network_type"] == "geneve" and net["mtu"] == 1442
    port = neutron.create_port({"port": {"network_id": net["id"], "binding:host_id": "src"}})["port"]
    assert port["status"] == "DOWN"
    nb.nbctl("set", "Logical_Switch_Port", port["id"], "up=true")  # what ovn-northd writes
    assert wait_for(lambda: neutron.show_port(port["id"])["port"]["status"] == "ACTIVE")
    # The engine moves the binding while the VM still runs on the source.
    moved = neutron.update_port(port["id"], {"port": {"mac_address": port["mac_address"],
                                                      "binding:host_id": "dst"}})["port"]
    assert moved["binding:host_id"] == "dst"
    opts = omap(lsp(nb, port["id"])["options"])
    assert opts == {"requested-chassis": "src,dst", "activation-strategy": "rarp"}
    # Other writes meanwhile (the port's, its network's) keep both chassis:
    # the VM still runs on the source.
    neutron.update_port(port["id"], {"port": {"name": "renamed"}})
    neutron.update_network(net["id"], {"network": {"vif_driver:bridge_name": "br-other"}})
    assert omap(lsp(nb, port["id"])["options"]) == opts
    # After the switch-over the destination binds it again: narrowed, never back to src.
    neutron.update_port(port["id"], {"port": {"binding:host_id": "dst"}})
    assert omap(lsp(nb, port["id"])["options"]) == {"requested-chassis": "dst"}
    neutron.update_port(port["id"], {"port": {"binding:host_id": "dst"}})
    assert omap(lsp(nb, port["id"])["options"]) == {"requested-chassis": "dst"}
    # A port not running moves at once.
    nb.nbctl("set", "Logical_Switch_Port", port["id"], "up=false")
    assert wait_for(lambda: neutron.show_port(port["id"])["port"]["status"] == "DOWN")
    neutron.update_port(port["id"], {"port": {"binding:host_id": "third"}})
    assert omap(lsp(nb, port["id"])["options"]) == {"requested-chassis": "third"}
    neutron.delete_port(port["id"])
    neutron.delete_network(net["id"])


def test_dhcp_rows_follow_network_and_subnet_updates(nb, ovn):
    """The DHCP offer carries the network's MTU, and a subnet with DHCP
    off is no port's DHCP_Options (OVN would still answer)."""
    _, neutron = ovn
    net = neutron.create_network({"network": {"name": "dhcp-upd"}})["network"]
    sub = neutron.create_subnet({"subnet": {"network_id": net["id"], "cidr": "10.41.0.0/24"}})["subnet"]
    port = neutron.create_port({"port": {"network_id": net["id"]}})["port"]
    (dhcp,) = rows(nb, "DHCP_Options", f"cidr={sub['cidr']}")
    assert omap(dhcp["options"])["mtu"] == "1442"
    neutron.update_network(net["id"], {"network": {"mtu": 1400}})
    (dhcp,) = rows(nb, "DHCP_Options", f"cidr={sub['cidr']}")
    assert omap(dhcp["options"])["mtu"] == "1400"
    assert lsp(nb, port["id"])["dhcpv4_options"][1] == sub["id"]
    neutron.update_subnet(sub["id"], {"subnet": {"enable_dhcp": False}})
    assert oset(lsp(nb, port["id"])["dhcpv4_options"]) == []
    later = neutron.create_port({"port": {"network_id": net["id"]}})["port"]
    assert oset(lsp(nb, later["id"])["dhcpv4_options"]) == []
    neutron.update_subnet(sub["id"], {"subnet": {"enable_dhcp": True}})
    assert lsp(nb, port["id"])["dhcpv4_options"][1] == sub["id"]
    assert lsp(nb, later["id"])["dhcpv4_options"][1] == sub["id"]
    for p in (port, later):
        neutron.delete_port(p["id"])
    neutron.delete_network(net["id"])


def test_a_network_updated_to_local_is_the_overlay(nb, ovn):
    _, neutron = ovn
    net = neutron.create_network({"network": {
        "name": "to-local", "provider:network_type": "vlan", "provider:physical_network": "phys1",
        "provider:segmentation_id": 77}})["network"]
    moved = neutron.update_network(net["id"], {"network": {
        "provider:network_type": "local", "provider:segmentation_id": None,
        "provider:physical_network": None}})["network"]
    assert moved["provider:network_type"] == "geneve" == neutron.show_network(
        net["id"])["network"]["provider:network_type"]
    (ls,) = rows(nb, "Logical_Switch", f"name=ovirt-to-local-{net['id']}")
    assert "geneve" in omap(ls["external_ids"]).values()
    assert "local" not in omap(ls["external_ids"]).values()
    assert rows(nb, "Logical_Switch_Port", "type=localnet") == []
    neutron.delete_network(net["id"])


def test_a_tunnel_network_key_is_ovns_or_the_one_asked(nb, ovn):
    """A geneve network without provider:segmentation_id gets its key from
    ovn-northd; one with an id asks ovn-northd for it (requested-tnl-key),
    so the id the API reports is the one on the wire."""
    _, neutron = ovn
    free = neutron.create_network({"network": {"name": "tnl-free",
                                               "provider:network_type": "geneve"}})["network"]
    assert free["provider:network_type"] == "geneve" and free["provider:segmentation_id"] is None
    (ls,) = rows(nb, "Logical_Switch", f"name=ovirt-tnl-free-{free['id']}")
    assert "requested-tnl-key" not in omap(ls["other_config"])
    keyed = neutron.create_network({"network": {"name": "tnl-key", "provider:network_type": "geneve",
                                                "provider:segmentation_id": 5000}})["network"]
    (ls,) = rows(nb, "Logical_Switch", f"name=ovirt-tnl-key-{keyed['id']}")
    assert omap(ls["other_config"])["requested-tnl-key"] == "5000"
    neutron.update_network(keyed["id"], {"network": {"provider:segmentation_id": 6000}})
    (ls,) = rows(nb, "Logical_Switch", f"name=ovirt-tnl-key-{keyed['id']}")
    assert omap(ls["other_config"])["requested-tnl-key"] == "6000"
    with pytest.raises(Exception, match="provider:segmentation_id 16777216 is not an OVN tunnel key"):
        neutron.create_network({"network": {"name": "tnl-big", "provider:network_type": "gre",
                                            "provider:segmentation_id": 2**24}})
    for net in (free, keyed):
        neutron.delete_network(net["id"])


def test_row_ids_of_a_bulk_create_stay_below_the_next_write():
    """Rows get ids from the write generation up; a bulk create of
    thousands must not reach into the next write's range (409 on every
    later create until another write)."""
    from vif_driver.provider import validation
    from vif_driver.provider.ovn_mirror import Mirror

    def port(name):
        return validation.parse("port", {"port": {"network_id": net["id"], "name": name}})[0]
    mirror = Mirror("br-int")
    mirror.db.execute("BEGIN")
    tx = mirror.tx(1)
    net = tx.create_network(validation.parse("network", {"network": {"name": "bulk"}})[0])
    for i in range(5000):
        tx.create_port(port(f"p{i}"))
    mirror.db.execute("COMMIT")
    mirror.db.execute("BEGIN")
    mirror.tx(2).create_port(port("next"))
    mirror.db.execute("COMMIT")
    assert mirror.db.execute("SELECT count(*) FROM ports").fetchone()[0] == 5001


def test_rows_written_by_ovirt_provider_ovn_are_served(nb, ovn):
    """Rows as ovirt-provider-ovn's neutron_api.py writes them (ovn-nbctl)."""
    _, neutron = ovn
    ls = nb.nbctl("create", "Logical_Switch", "name=ovirt-legacy-1234",
                  'external_ids:ovirt_network_name=legacy', "external_ids:mtu=1442",
                  "external_ids:ovirt_port_security=true", "other_config:subnet=10.30.0.0/24")
    dhcp = nb.nbctl("create", "DHCP_Options", "cidr=10.30.0.0/24",
                    "options:router=10.30.0.1", "options:server_id=10.30.0.1",
                    'options:server_mac="02:00:00:00:00:00"', "options:lease_time=86400",
                    'options:dns_server="{8.8.8.8}"', "options:mtu=1442",
                    f"external_ids:ovirt_network_id={ls}", "external_ids:ovirt_name=legacy-sub",
                    "external_ids:ip_version=4")
    nb.nbctl("lsp-add", ls, "11111111-2222-3333-4444-555555555555", "--",
             "lsp-set-addresses", "11111111-2222-3333-4444-555555555555", "00:1a:4a:00:00:01 dynamic",
             "--", "set", "Logical_Switch_Port", "11111111-2222-3333-4444-555555555555",
             'dynamic_addresses="00:1a:4a:00:00:01 10.30.0.2"', "external_ids:ovirt_nic_name=nic1",
             "external_ids:ovirt_device_id=vm-legacy", "external_ids:ovirt_device_owner=oVirt",
             f"dhcpv4_options={dhcp}", 'port_security="00:1a:4a:00:00:01"')
    nb.nbctl("lsp-add", ls, "66666666-2222-3333-4444-555555555555", "--",
             "lsp-set-addresses", "66666666-2222-3333-4444-555555555555", "00:1a:4a:00:00:02 10.30.0.3")
    net = wait_for(lambda: [n for n in neutron.list_networks(id=ls)["networks"]])
    assert net and net[0]["name"] == "legacy" and net[0]["mtu"] == 1442
    assert net[0]["port_security_enabled"] is True and net[0]["provider:network_type"] == "geneve"
    (sub,) = neutron.list_subnets(network_id=ls)["subnets"]
    assert (sub["id"], sub["name"], sub["gateway_ip"], sub["dns_nameservers"]) == (
        dhcp, "legacy-sub", "10.30.0.1", ["8.8.8.8"])
    ports = {p["id"]: p for p in neutron.list_ports(network_id=ls)["ports"]}
    old = ports["11111111-2222-3333-4444-555555555555"]
    assert old["device_id"] == "vm-legacy" and old["mac_address"] == "00:1a:4a:00:00:01"
    assert old["fixed_ips"] == [{"subnet_id": dhcp, "ip_address": "10.30.0.2"}]
    assert ports["66666666-2222-3333-4444-555555555555"]["fixed_ips"][0]["ip_address"] == "10.30.0.3"
    new = neutron.create_port({"port": {"network_id": ls, "device_owner": "oVirt",
                                        "device_id": "vm-new", "binding:host_id": "h1"}})["port"]
    assert new["fixed_ips"][0]["ip_address"] == "10.30.0.4"  # after the legacy ones
    row = lsp(nb, new["id"])
    assert row["addresses"] == f"{new['mac_address']} 10.30.0.4" and row["dhcpv4_options"][1] == dhcp
    neutron.delete_port(new["id"])
    assert rows(nb, "Logical_Switch_Port", f"name={new['id']}") == []


def test_rows_the_api_cannot_express_do_not_stop_the_rest(nb, ovn):
    """Another tool's rows: ports without a MAC, two ports with one MAC,
    a DHCP cidr with host bits. Each odd row is left out (or its cidr
    normalised), and the rows written with them are served: before, the
    whole change was dropped from the mirror and a served address and MAC
    were handed out again."""
    _, neutron = ovn
    ls = nb.nbctl("create", "Logical_Switch", "name=ovirt-odd-1", "external_ids:ovirt_network_name=odd")
    dhcp = nb.nbctl("create", "DHCP_Options", "cidr=10.61.0.1/24", "options:router=10.61.0.1",
                    f"external_ids:ovirt_network_id={ls}", "external_ids:ip_version=4")
    good, bad1, bad2, dup1, dup2 = ("77777777-0000-0000-0000-00000000000" + str(i) for i in range(5))
    nb.nbctl("lsp-add", ls, bad1, "--", "lsp-set-addresses", bad1, "unknown",
             "--", "lsp-add", ls, bad2, "--", "lsp-set-addresses", bad2, "unknown",
             "--", "lsp-add", ls, dup1, "--", "lsp-set-addresses", dup1, "00:00:00:00:00:bb 10.61.0.4",
             "--", "lsp-add", ls, dup2, "--", "lsp-set-addresses", dup2, "00:00:00:00:00:bb 10.61.0.5",
             "--", "lsp-add", ls, good, "--", "lsp-set-addresses", good, "00:00:00:00:00:aa 10.61.0.3")
    ports = wait_for(lambda: {p["id"]: p for p in neutron.list_ports(network_id=ls)["ports"]})
    assert good in ports and ports[good]["fixed_ips"] == [{"subnet_id": dhcp, "ip_address": "10.61.0.3"}]
    assert bad1 not in ports and bad2 not in ports
    assert len({dup1, dup2} & set(ports)) == 1  # the first one written; the other has its MAC
    (sub,) = neutron.list_subnets(network_id=ls)["subnets"]
    assert sub["cidr"] == "10.61.0.0/24"
    with pytest.raises(Exception, match="00:00:00:00:00:aa"):
        neutron.create_port({"port": {"network_id": ls, "mac_address": "00:00:00:00:00:aa"}})
    new = neutron.create_port({"port": {"network_id": ls}})["port"]
    served = {f["ip_address"] for p in ports.values() for f in p["fixed_ips"]}
    assert "10.61.0.3" in served and new["fixed_ips"][0]["ip_address"] not in served
    neutron.delete_port(new["id"])
    nb.nbctl("ls-del", ls)
    nb.nbctl("dhcp-options-del", dhcp)


def test_every_worker_reads_the_last_write(nb, start_provider, make_neutron):
    p = start_provider("--backend", "ovn", "--ovn-nb", nb.remote, "--workers", "3", "--threads", "1")
    neutron = make_neutron(p)
    net = neutron.create_network({"network": {"name": "ryw"}})["network"]
    for i in range(30):
        port = neutron.create_port({"port": {"network_id": net["id"], "name": f"p{i}"}})["port"]
        status, _, body = p.request("GET", f"/v2.0/ports/{port['id']}")  # a new connection: any worker
        assert status == 200 and body["port"]["name"] == f"p{i}"
        status, _, _ = p.request("DELETE", f"/v2.0/ports/{port['id']}")
        assert status == 204
        assert p.request("GET", f"/v2.0/ports/{port['id']}")[0] == 404
    neutron.delete_network(net["id"])


def test_a_request_after_the_server_dropped_the_connections(nb, ovn):
    """ovsdb-server closes a tcp:/ssl: connection that idled past its
    inactivity probe (about 10 s): the next request's question to the
    server must reconnect, not answer 503.  ovsdb-server/reconnect drops
    every connection at once, the same for the provider."""
    p, neutron = ovn
    net = neutron.create_network({"network": {"name": "idle"}})["network"]
    assert p.request("GET", f"/v2.0/networks/{net['id']}")[0] == 200
    nb.appctl("ovsdb-server/reconnect")
    status, _, body = p.request("GET", f"/v2.0/networks/{net['id']}")
    assert status == 200, body
    neutron.delete_network(net["id"])


def test_requests_queued_on_a_hung_server_fail_together(start_provider):
    """A hung NB server (SIGSTOP): requests that queued behind the one
    waiting for it answer 503 with it, not one --ovn-timeout after another
    (the 4th after 4 timeouts); the server answering again, so does the
    provider."""
    server = NbServer()
    try:
        p = start_provider("--backend", "ovn", "--ovn-nb", server.remote, "--ovn-timeout", "2")
        assert p.request("GET", "/v2.0/networks")[0] == 200
        results: list = []

        def get():
            t0 = time.monotonic()
            status, _, body = p.request("GET", "/v2.0/networks")
            results.append((status, round(time.monotonic() - t0, 2), body))
        os.kill(server.proc.pid, signal.SIGSTOP)
        try:
            threads = [threading.Thread(target=get) for _ in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
        finally:
            os.kill(server.proc.pid, signal.SIGCONT)
        assert [r[0] for r in results] == [503] * 4, results
        assert "retry later" in results[0][2]["NeutronError"]["message"]
        assert max(r[1] for r in results) < 2 * 2 + 0.5, results
        assert wait_for(lambda: p.request("GET", "/v2.0/networks")[0] == 200, 20)
    finally:
        server.stop()


def test_rows_deleted_while_disconnected_leave_the_mirror(nb, ovn):
    """A standalone ovsdb-server cannot resume a monitor: after a
    reconnection the IDL reloads its tables without a delete notice for
    what went meanwhile. The mirror must drop those rows (else a deleted
    port stays listed and its address counts as in use)."""
    p, neutron = ovn
    net = neutron.create_network({"network": {"name": "reconnect"}})["network"]
    neutron.create_subnet({"subnet": {"network_id": net["id"], "cidr": "10.31.0.0/29"}})
    kept, gone = (neutron.create_port({"port": {"network_id": net["id"]}})["port"] for _ in range(2))
    side = f"punix:{nb.dir / 'side.sock'}"
    nb.appctl("ovsdb-server/add-remote", side)
    nb.appctl("ovsdb-server/remove-remote", f"punix:{nb.sock}")  # drops the provider's connections
    try:
        nb.nbctl(f"--db=unix:{nb.dir / 'side.sock'}", "lsp-del", gone["id"])
    finally:
        nb.appctl("ovsdb-server/add-remote", f"punix:{nb.sock}")
    deadline = time.monotonic() + 30
    while True:
        status, _, body = p.request("GET", f"/v2.0/ports?network_id={net['id']}")
        if status == 200 and [x["id"] for x in body["ports"]] == [kept["id"]]:
            break
        assert status in (200, 503), body  # 503 while reconnecting
        assert time.monotonic() < deadline, f"still served after the reconnection: {body}"
        time.sleep(0.2)
    again = neutron.create_port({"port": {"network_id": net["id"]}})["port"]
    assert again["fixed_ips"][0]["ip_address"] == gone["fixed_ips"][0]["ip_address"]
    neutron.delete_port(again["id"])
    neutron.delete_port(kept["id"])
    neutron.delete_network(net["id"])


def test_an_address_moved_between_ports_while_a_worker_idled(nb, start_provider, make_neutron):
    """One provider deletes a port and gives its address to another; a
    second provider, idle meanwhile, takes both changes in one sync (in
    either order). Its next port must not get the moved address again
    (issue 13: "another address than a just-freed one")."""
    one = start_provider("--backend", "ovn", "--ovn-nb", nb.remote, "--workers", "1")
    two = start_provider("--backend", "ovn", "--ovn-nb", nb.remote, "--workers", "1")
    first, second = make_neutron(one), make_neutron(two)
    for n in range(8):  # the sync's order differs by row: several rounds
        net = first.create_network({"network": {"name": f"move{n}"}})["network"]
        sub = first.create_subnet({"subnet": {"network_id": net["id"],
                                              "cidr": f"10.32.{n}.0/29"}})["subnet"]
        x, y = (first.create_port({"port": {"network_id": net["id"]}})["port"] for _ in range(2))
        assert second.show_port(y["id"])["port"]["id"] == y["id"]  # the second one is up to date
        first.delete_port(x["id"])
        freed = x["fixed_ips"][0]["ip_address"]
        moved = first.update_port(y["id"], {"port": {"fixed_ips": [
            {"subnet_id": sub["id"], "ip_address": freed}]}})["port"]
        assert moved["fixed_ips"][0]["ip_address"] == freed
        new = second.create_port({"port": {"network_id": net["id"]}})["port"]
        assert new["fixed_ips"][0]["ip_address"] != freed, f"round {n}: {freed} handed out twice"
        listed = second.list_ports(network_id=net["id"])["ports"]
        ips = sorted(ip["ip_address"] for p in listed for ip in p["fixed_ips"])
        assert len(ips) == 2 and freed in ips
        for p in (y, new):
            second.delete_port(p["id"])
        second.delete_network(net["id"])


def test_nb_unreachable_is_one_line(tmp_path):
    import subprocess
    import sys
    out = subprocess.run([sys.executable, "-m", "vif_driver.provider", "serve", "--backend", "ovn",
                          "--ovn-nb", f"unix:{tmp_path}/none.sock", "--ovn-timeout", "2"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert "OVN northbound database" in out.stderr and len(out.stderr.strip().splitlines()) == 1
    out = subprocess.run([sys.executable, "-m", "vif_driver.provider", "serve", "--backend", "ovn"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 2 and "--ovn-nb" in out.stderr


def test_a_python_ovs_that_cannot_send_chosen_uuids_is_named(nb, monkeypatch):
    """python-ovs 3.1.0-3.1.4, 3.2.0-3.2.2 and 3.3.0 raise TypeError when
    sending an insert with a chosen UUID (emulated here: pip's ovs has the
    fix). The worker asks the library once, answers one line naming the
    fix, and leaves no thread or connection behind."""
    import threading

    from ovs.db import idl

    from vif_driver.provider.errors import NeutronError
    from vif_driver.provider.ovn_store import OvnStore

    nb.nbctl("init")  # NB_Global exists: the probe is the first commit

    def commit(self):
        raise TypeError("Object of type UUID is not JSON serializable")
    monkeypatch.setattr(idl.Transaction, "commit", commit)
    store = OvnStore(nb.remote, timeout=5)
    before = threading.active_count()
    for _ in range(2):  # every request asks again, and none leaks
        with pytest.raises(NeutronError) as err:
            store.worker()
        assert err.value.status == 503
        assert "python-ovs" in str(err.value) and "3.4 or newer" in str(err.value)
        assert "\n" not in str(err.value)
        assert threading.active_count() == before


def test_one_worker_by_default_on_ovn(nb, start_provider):
    """Each OVN worker keeps a whole copy and applies every write, and the
    NB database serialises writes anyway: one worker (its greenlets) by
    default; --workers still sets more."""
    for extra, booted in (((), 1), (("--workers", "3"), 3)):
        p = start_provider("--backend", "ovn", "--ovn-nb", nb.remote, "--log-level", "info",
                           *extra, workers=None)
        log = p.db.with_suffix(".log")
        assert wait_for(lambda log=log, n=booted: log.read_text().count("Booting worker") >= n,
                        20), log.read_text()
        time.sleep(0.5)  # a second worker would have booted by now
        assert log.read_text().count("Booting worker") == booted



def test_a_port_queued_with_its_new_subnet_gets_its_dhcp(nb):
    """Group commit: a port create queued behind the create of the subnet
    it takes its address from. The port's dhcpv4_options must name that
    subnet's row (on python-ovs before 3.2.6/3.3.9 one transaction for
    both lost the reference: the batch goes one request per transaction)."""
    from vif_driver.provider import validation
    from vif_driver.provider.ovn_store import OvnStore, _Job

    store = OvnStore(nb.remote, timeout=10)
    try:
        (net,) = store.transact(lambda tx: [tx.create_network(a) for a in validation.parse(
            "network", {"network": {"name": "batch"}})])
        sub_attrs = validation.parse("subnet", {"subnet": {
            "network_id": net["id"], "cidr": "10.77.0.0/24"}})[0]
        port_attrs = validation.parse("port", {"port": {"network_id": net["id"]}})[0]
        queued = _Job(lambda tx: tx.create_subnet(sub_attrs))
        store.worker().queue.append(queued)  # as if its request waited behind a write
        port = store.transact(lambda tx: tx.create_port(port_attrs))
        assert queued.done and queued.error is None
        sub = queued.result
        assert port["fixed_ips"][0]["subnet_id"] == sub["id"]
        assert lsp(nb, port["id"])["dhcpv4_options"] == ["uuid", sub["id"]]
        store.transact(lambda tx: [tx.delete_port(port["id"]), tx.delete_subnet(sub["id"]),
                                   tx.delete_network(net["id"])])
        assert rows(nb, "Logical_Switch", f"name=ovirt-batch-{net['id']}") == []
        assert rows(nb, "Logical_Switch_Port", f"name={port['id']}") == []
        assert rows(nb, "DHCP_Options", f"cidr={sub['cidr']}") == []
    finally:
        store.close()

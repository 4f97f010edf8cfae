"""Store internals: indexed lookups, IP arithmetic, schema guard."""

import ipaddress
import sqlite3

import pytest

from vif_driver.provider import ipam, validation
from vif_driver.provider.store import Store


@pytest.fixture
def store(tmp_path):
    s = Store(str(tmp_path / "s.sqlite"))
    with s.write() as tx:
        net = tx.create_network(validation.parse(
            "network", {"network": {}})[0])
        tx.create_subnet(validation.parse("subnet", {"subnet": {
            "network_id": net["id"], "cidr": "10.0.0.0/20"}})[0])
        for i in range(300):
            tx.create_port(validation.parse("port", {"port": {
                "network_id": net["id"], "device_id": f"vm{i % 150}"}})[0])
    s.net_id = net["id"]
    return s


def plans(store, filters):
    """EXPLAIN QUERY PLAN of every statement list_ports runs."""
    statements = []
    with store.read() as tx:
        tx.conn.set_trace_callback(statements.append)
        tx.list_ports(filters)
        tx.conn.set_trace_callback(None)
        return [" | ".join(row[3] for row in tx.conn.execute(
            "EXPLAIN QUERY PLAN " + sql)) for sql in statements
            if sql.startswith("SELECT")]


@pytest.mark.parametrize("key,index", [
    ("device_id", "ports_device_id"), ("mac_address", "ports_mac_address"),
    ("device_owner", "ports_device_owner"), ("name", "ports_name"),
    ("id", "sqlite_autoindex_ports_1")])
def test_port_filters_use_indexes(store, key, index):
    with store.read() as tx:
        value = tx.list_ports({"device_id": ["vm7"]})[0][key]
    found = plans(store, {key: [value]})
    assert index in found[0] and "SCAN" not in found[0], found
    assert all("SCAN" not in p for p in found), found


def test_network_filter_uses_an_index(store):
    found = plans(store, {"network_id": [store.net_id]})
    assert "USING INDEX" in found[0] and "SCAN p" not in found[0], found


def test_transaction_rolls_back_on_error(store):
    with pytest.raises(Exception):  # noqa: B017 - whichever error the store raises, it rolls back
        with store.write() as tx:
            tx.create_port(validation.parse("port", {"port": {
                "network_id": store.net_id, "device_id": "rollback"}})[0])
            tx.create_port(validation.parse("port", {"port": {
                "network_id": store.net_id,
                "fixed_ips": [{"ip_address": "10.0.0.2"}]}})[0])
    with store.read() as tx:
        assert tx.list_ports({"device_id": ["rollback"]}) == []


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "new.sqlite"
    Store(str(path))
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version = 99")
    with pytest.raises(RuntimeError, match="newer"):
        Store(str(path))


def test_ip_keys_order_like_addresses():
    addrs = ["10.0.0.9", "10.0.0.10", "255.0.0.1", "::1", "fd00::a",
             "fd00::1:0"]
    keys = [ipam.ip_key(ipaddress.ip_address(a)) for a in addrs]
    assert sorted(keys) == [ipam.ip_key(ipaddress.ip_address(a)) for a in
                            sorted(addrs, key=lambda a: (
                                int(ipaddress.ip_address(a))))]
    assert all(len(k) == 32 for k in keys)


def test_default_pools():
    net6 = ipaddress.ip_network("fd00::/125")
    assert ipam.default_pools(net6, "fd00::1") == [
        {"start": "fd00::2", "end": "fd00::7"}]
    net4 = ipaddress.ip_network("10.0.0.0/30")
    assert ipam.default_pools(net4, ipam.default_gateway(net4)) == [
        {"start": "10.0.0.2", "end": "10.0.0.2"}]


def docs_and_dicts(store):
    import json
    with store.read() as tx:
        docs, more = tx.find_port_docs(None, None)
        dicts = tx.list_ports()
    assert not more
    return [json.loads(d) for _, d in docs], dicts


def test_stored_port_documents_match_the_ports(store):
    """The encoded documents the full list sends are the ports as built
    from their rows, after every kind of write."""
    with store.write() as tx:
        port = tx.list_ports({"device_id": ["vm1"]})[0]
        tx.update_port(port["id"], {"name": "renamed",
                                    "binding:host_id": "h1",
                                    "fixed_ips": [{"ip_address":
                                                   "10.0.9.9"}]})
        tx.update_network(store.net_id, {"vif_driver:bridge_name": "br-x"})
        tx.delete_port(tx.list_ports({"device_id": ["vm2"]})[0]["id"])
    docs, dicts = docs_and_dicts(store)
    assert docs == dicts and len(docs) == 299
    renamed = next(d for d in docs if d["id"] == port["id"])
    assert renamed["name"] == "renamed" and renamed["status"] == "ACTIVE"
    assert renamed["fixed_ips"][0]["ip_address"] == "10.0.9.9"
    assert {d["binding:vif_details"]["bridge_name"] for d in docs} == \
        {"br-x"}


def test_documents_follow_the_default_bridge_and_schema_1(store):
    path = store.path
    docs, _ = docs_and_dicts(Store(path, default_bridge="br-other"))
    assert {d["binding:vif_details"]["bridge_name"] for d in docs} == \
        {"br-other"}
    # a schema-1 database (no doc column) is upgraded and rendered
    conn = sqlite3.connect(path)
    conn.execute("ALTER TABLE ports DROP COLUMN doc")
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    again = Store(path)
    docs, dicts = docs_and_dicts(again)
    assert docs == dicts and len(docs) == 300
    assert docs[0]["binding:vif_details"]["bridge_name"] == "br-int"

"""Pure parts of the ovs driver: the remote grammar, the readiness check on
the IDL's rows, the client's schema and the stats mapping."""

from types import SimpleNamespace

import pytest

from vif_driver.drivers.ovs import stats, tables
from vif_driver.drivers.ovs.remote import parse_remote

from ovs_helpers import VNIC_ID, require, tap


@pytest.mark.parametrize("value", ["unix:/run/openvswitch/db.sock", "unix:/tmp/x/db.sock",
                                   "tcp:127.0.0.1:6640", "tcp:[::1]:6640", "tcp:ovs.example.com:6640"])
def test_remote_grammar_accepts(value):
    assert parse_remote(value) == value


@pytest.mark.parametrize("value, words", [
    ("unix:db.sock", "unix:/absolute/path"),
    ("unix:/run/../etc/x", "unix:/absolute/path"),
    ("unix:/" + "x" * 120, "at most 107"),
    ("tcp:127.0.0.1", "tcp:HOST:PORT"),
    ("tcp:127.0.0.1:0", "tcp:HOST:PORT"),
    ("tcp:127.0.0.1:99999", "tcp:HOST:PORT"),
    ("tcp:bad host:6640", "tcp:HOST:PORT"),
    ("ssl:127.0.0.1:6640", "certificate options"),
    ("punix:/run/x.sock", "not an OVSDB remote"),
    ("/run/openvswitch/db.sock", "not an OVSDB remote"),
])
def test_remote_grammar_rejects(value, words):
    with pytest.raises(ValueError, match=words):
        parse_remote(value)


class _Table:
    """An IDL table as tables.port_problem reads it: rows by uuid."""

    def __init__(self, *rows):
        self.rows = {i: row for i, row in enumerate(rows)}


def _tables(ofport=(3,), iface_id=VNIC_ID, error=(), on_bridge=True, port=True):
    iface = SimpleNamespace(name=tap(), external_ids={"iface-id": iface_id, "vm-id": "x"}, ofport=list(ofport),
                            error=list(error), link_state=[])
    ports = [SimpleNamespace(uuid=1, name=tap(), interfaces=[iface], tag=[])] if port else []
    other = SimpleNamespace(uuid=2, name="p2", interfaces=[], tag=[])
    bridge = SimpleNamespace(name="br-int", ports=(ports if on_bridge else []) + [other])
    return {"Interface": _Table(iface), "Port": _Table(*ports, other), "Bridge": _Table(bridge)}


def test_port_problems_in_order():
    def problem(rows):
        return tables.port_problem(rows, tap(), "br-int", VNIC_ID)
    no_bridge = {"Interface": _Table(), "Port": _Table(), "Bridge": _Table()}
    assert problem(no_bridge) == ("bridge br-int does not exist; create it "
                                  "(ovs-vsctl add-br br-int) or set bridge in [driver:ovs]")
    assert "libvirt has not added the port" in problem(dict(_tables(), Interface=_Table()))
    assert "iface-id=new, expected" in problem(_tables(iface_id="new"))
    assert problem(_tables(port=False)) == f"no port {tap()} holds interface {tap()}"
    assert "no ofport yet" in problem(_tables(ofport=()))
    assert problem(_tables(ofport=(-1,), error=("could not open network device x",))).endswith(
        "could not open it: could not open network device x")
    assert "ofport 65534: ovs-vswitchd could not open it" in problem(_tables(ofport=(65534,)))
    assert problem(_tables(on_bridge=False)) == f"port {tap()} is not on bridge br-int"
    assert problem(_tables()) is None


def test_interface_rows_link_state():
    rows = _tables()
    rows["Interface"].rows[0].link_state = ["up"]
    assert tables.interface_rows(rows) == [{"name": tap(), "link_state": "up"}]
    rows["Interface"].rows[0].link_state = []
    assert tables.interface_rows(rows) == [{"name": tap(), "link_state": None}]


def _shape(typed) -> tuple:
    """(key type, value type, min, max, refTable) of an OVSDB column type."""
    if isinstance(typed, str):
        typed = {"key": typed}
    def atomic(t):
        return t if isinstance(t, str) or t is None else t["type"]
    key = typed["key"]
    return (atomic(key), atomic(typed.get("value")), typed.get("min", 1), typed.get("max", 1),
            key.get("refTable") if isinstance(key, dict) else None)


def test_the_client_schema_matches_the_switch_schema():
    """The client's schema (no get_schema round trip) types every column it
    reads as the installed vswitch.ovsschema does."""
    import json
    import os
    path = "/usr/share/openvswitch/vswitch.ovsschema"
    require(os.path.exists(path), "Open vSwitch's " + path)
    with open(path, encoding="utf-8") as f:
        real = json.load(f)["tables"]
    for table, spec in tables.SCHEMA["tables"].items():
        assert spec.get("isRoot", False) == real[table].get("isRoot", False), table
        for column, typed in spec["columns"].items():
            assert _shape(typed["type"]) == _shape(real[table]["columns"][column]["type"]), (table, column)


def test_stats_mapping_and_filter(tmp_path):
    proc = tmp_path / "dev"
    proc.write_text(
        "Inter-|   Receive                                                |  Transmit\n"
        " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls"
        " carrier compressed\n"
        f"{tap()}: 10 1 0 1 0 0 0 0 20 2 2 0 0 0 0 0\n"
        "  vnet0: 5 1 0 0 0 0 0 0 5 1 0 0 0 0 0 0\n")
    counters = stats.kernel_counters(str(proc))
    assert counters["vnet0"][0] == "5"
    rows = [{"name": tap(), "link_state": "up"}, {"name": "tapdeadbeef-00", "link_state": "up"},
            {"name": "vnet0", "link_state": "up"}]
    vdsm = {"network": {tap(): {"name": tap(), "duplex": "full", "rx": "1"}, "vnet0": {"name": "vnet0"}}}
    assert stats.unreported(vdsm, rows) == [rows[1]]  # VDSM's entry stands; vnet0 is not ours
    result: dict = {"network": {}}
    assert stats.add(result, stats.unreported(result, rows), counters, now=5.0) == 1  # no kernel device: skipped
    assert result["network"] == {tap(): {"name": tap(), "rx": "10", "tx": "20", "rxDropped": "1", "txDropped": "0",
                                         "rxErrors": "0", "txErrors": "2", "speed": "1000", "duplex": "unknown",
                                         "state": "up", "sampleTime": 5.0}}
    fresh: dict = {}
    stats.add(fresh, [{"name": tap(), "link_state": ["set", []]}], counters, now=1.0)
    assert fresh["network"][tap()]["speed"] == "1000" and fresh["network"][tap()]["state"] == "down"
    assert fresh["network"][tap()]["duplex"] == "unknown"

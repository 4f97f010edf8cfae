"""Pure parts of the ovs driver: the remote grammar, OVSDB update2 diffs,
the readiness check and the stats mapping."""

import pytest

from ovs_helpers import VNIC_ID, tap
from vif_driver.drivers.ovs import monitor, stats
from vif_driver.drivers.ovs.remote import parse_remote


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


IFACE, PORT, BRIDGE = "11111111-0000-0000-0000-000000000001", "22222222-0000-0000-0000-000000000002", \
    "33333333-0000-0000-0000-000000000003"


def _initial(ofport=None, iface_id=VNIC_ID):
    iface = {"name": tap(), "external_ids": ["map", [["iface-id", iface_id], ["vm-id", "x"]]]}
    if ofport is not None:
        iface["ofport"] = ofport
    return {"Interface": {IFACE: {"initial": iface}},
            "Port": {PORT: {"initial": {"name": tap(), "interfaces": ["uuid", IFACE]}}},
            "Bridge": {BRIDGE: {"initial": {"name": "br-int", "ports": ["set", [["uuid", PORT], ["uuid", "p2"]]]}}}}


def test_rows_initial_and_ready():
    rows = monitor.Rows()
    rows.apply(_initial(ofport=3))
    assert rows.tables["Interface"][IFACE]["ofport"] == {3}
    assert rows.tables["Bridge"][BRIDGE]["ports"] == {PORT, "p2"}
    assert rows.problem(tap(), "br-int", VNIC_ID) is None


def test_rows_modify_applies_set_and_map_diffs():
    rows = monitor.Rows()
    rows.apply(_initial())  # ofport unset: the default, so not sent
    assert "no ofport yet" in rows.problem(tap(), "br-int", VNIC_ID)
    rows.apply({"Interface": {IFACE: {"modify": {"ofport": 7}}}})
    assert rows.tables["Interface"][IFACE]["ofport"] == {7}
    rows.apply({"Interface": {IFACE: {"modify": {"ofport": ["set", [7, 8]]}}}})
    assert rows.tables["Interface"][IFACE]["ofport"] == {8}
    # map diff: a pair equal to the old one removes it, others add or update
    rows.apply({"Interface": {IFACE: {"modify": {"external_ids": ["map", [["vm-id", "x"], ["iface-status", "active"],
                                                                           ["iface-id", "new"]]]}}}})
    assert rows.tables["Interface"][IFACE]["external_ids"] == {"iface-id": "new", "iface-status": "active"}
    assert "iface-id=new, expected" in rows.problem(tap(), "br-int", VNIC_ID)
    rows.apply({"Bridge": {BRIDGE: {"modify": {"ports": ["uuid", PORT]}}}})
    assert rows.tables["Bridge"][BRIDGE]["ports"] == {"p2"}


def test_rows_problems_in_order():
    rows = monitor.Rows()
    assert rows.problem(tap(), "br-int", VNIC_ID) == ("bridge br-int does not exist; create it "
                                                      "(ovs-vsctl add-br br-int) or set bridge in [driver:ovs]")
    rows.apply(_initial(ofport=-1))
    rows.apply({"Interface": {IFACE: {"modify": {"error": "could not open network device x"}}}})
    assert rows.problem(tap(), "br-int", VNIC_ID).endswith("could not open it: could not open network device x")
    rows.apply({"Interface": {IFACE: {"delete": None}}})
    assert "libvirt has not added the port" in rows.problem(tap(), "br-int", VNIC_ID)
    rows.apply(_initial(ofport=65534))
    assert "ofport 65534: ovs-vswitchd could not open it" in rows.problem(tap(), "br-int", VNIC_ID)
    rows.apply(_initial(ofport=2))
    assert rows.problem(tap(), "br-int", VNIC_ID) is None and rows.port_uuid == PORT
    rows.apply({"Port": {PORT: {"delete": None}}})
    assert rows.problem(tap(), "br-int", VNIC_ID) == f"no port {tap()} holds interface {tap()}"
    assert rows.port_uuid is None


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
    result = {"network": {tap(): {"name": tap(), "duplex": "full", "rx": "1"}}}
    assert stats.add(result, rows, counters, now=5.0) == 1  # no kernel device, not ours: skipped
    assert result["network"] == {tap(): {"name": tap(), "duplex": "full", "rx": "10", "tx": "20",
                                         "rxDropped": "1", "txDropped": "0", "rxErrors": "0", "txErrors": "2",
                                         "state": "up", "sampleTime": 5.0}}
    fresh = {}
    stats.add(fresh, [{"name": tap(), "link_state": ["set", []]}], counters, now=1.0)
    assert fresh["network"][tap()]["speed"] == "1000" and fresh["network"][tap()]["state"] == "down"
    assert fresh["network"][tap()]["duplex"] == "unknown"


def _snapshot_case(n=5):
    names = [f"tap{i:011x}" for i in range(n)]
    rows = [{"name": name, "link_state": "up" if i % 2 else None} for i, name in enumerate(names)]
    rows.append({"name": "vnet0", "link_state": "up"})
    counters = {name: [str(i * 16 + k) for k in range(16)] for i, name in enumerate(names + ["vnet0"])}
    return names, rows, counters


@pytest.mark.parametrize("vdsm_network", [
    None,  # no network section
    {},
    {"eth0": {"name": "eth0", "rx": "7"}},
    {"eth0": {"name": "eth0"}, "tap00000000003": {"name": "x", "duplex": "full", "rx": "1"}},  # VDSM's own
    {"tap00000000001": "not an object", "eth0": {}},
])
def test_snapshot_gives_the_json_of_a_fresh_read(vdsm_network, monkeypatch):
    """The agent's spliced answer is byte for byte the in-process one."""
    import copy
    import json

    from vif_driver.core import dispatch
    from vif_driver.drivers.ovs import snapshot

    names, rows, counters = _snapshot_case()

    class View:
        remote = "unix:/x"

        def interfaces(self):
            return rows

    def vdsm():
        base = {"cpu": 1, "nested": {"s": "vif-driver-splice-0"}}
        if vdsm_network is not None:
            base["network"] = copy.deepcopy(vdsm_network)
        base["after"] = [1, 2]
        return base

    monkeypatch.setattr(stats, "read_counters", lambda netns: counters)
    snap = snapshot.take(View(), None)
    assert list(snap.updates) == names
    sample_time = snap.updates[names[0]]["sampleTime"]
    expected = vdsm()
    stats.add(expected, rows, counters, now=sample_time)
    served = snap.serve(vdsm())
    assert isinstance(served["network"], dispatch.JsonMembers)
    assert dispatch._encode(served) == json.dumps(expected)
    assert dispatch._plain(served) == expected  # what a second driver gets
    assert list(json.loads(dispatch._encode(served))["network"]) == list(expected["network"])


def test_snapshot_is_served_only_while_fresh(monkeypatch):
    from vif_driver.drivers.ovs import snapshot

    class View:
        remote = "unix:/x"

        def interfaces(self):
            return None  # not current: no snapshot, the caller reads fresh

    monkeypatch.setattr(snapshot, "IDLE", 3600)
    refresher = snapshot.Refresher(View(), None)
    try:
        assert refresher.current() is None
        refresher._snapshot = snapshot.Snapshot(snapshot.time.monotonic() - 0.2, {}, "")
        assert refresher.current() is refresher._snapshot
        refresher._snapshot = snapshot.Snapshot(
            snapshot.time.monotonic() - snapshot.INTERVAL - snapshot.MARGIN - 0.1, {}, "")
        assert refresher.current() is None  # refresher stuck: too old to serve
    finally:
        refresher.close()

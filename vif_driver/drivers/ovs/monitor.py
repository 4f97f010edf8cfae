"""The post-plug wait: a conditional monitor (``monitor_cond``) of the
vNIC's own rows, the Interface and Port named after its tap and the bridge's
name, with just the columns the check needs. ovsdb-server sends their
current state, then only changes to those rows, until the port is ready or
the deadline passes. Whether the port is on the bridge is one select with
``ports includes`` (the bridge's port set can hold thousands of uuids:
never downloaded).
"""

from vif_driver.api import NotReady
from vif_driver.drivers.ovs import wire
from vif_driver.drivers.ovs.ovsdb import OvsDb, atom, to_map, to_set

MONITOR_ID = "vif-driver-port"
# The kind of each monitored column's value, to apply update2 diffs.
_KINDS = {"name": "atom", "ofport": "set", "error": "set", "external_ids": "map",
          "interfaces": "set", "ports": "set", "link_state": "set"}
_MAX_OFPORT = 0xff00  # OpenFlow port numbers of real ports are below this


def requests(dev: str, bridge: str) -> dict:
    return {
        "Interface": [{"columns": ["name", "ofport", "external_ids", "error"], "where": [["name", "==", dev]]}],
        "Port": [{"columns": ["name", "interfaces"], "where": [["name", "==", dev]]}],
        "Bridge": [{"columns": ["name"], "where": [["name", "==", bridge]]}],
    }


class Rows:
    """The monitored rows, kept current from table-updates2 messages."""

    def __init__(self):
        self.tables: "dict[str, dict[str, dict]]" = {"Interface": {}, "Port": {}, "Bridge": {}}
        self.port_uuid: "str | None" = None  # the Port holding the interface

    def apply(self, updates) -> None:
        for table, rows in (updates or {}).items():
            current = self.tables.setdefault(table, {})
            for row_uuid, change in rows.items():
                if "delete" in change:
                    current.pop(row_uuid, None)
                    continue
                for key in ("initial", "insert"):
                    if key in change:  # only non-default columns are sent
                        current[row_uuid] = {c: _decode(c, v) for c, v in change[key].items()}
                if "modify" in change:
                    row = current.setdefault(row_uuid, {})
                    for column, diff in change["modify"].items():
                        row[column] = _apply_diff(column, row.get(column), diff)

    def problem(self, dev: str, bridge: str, vnic_id: str) -> "str | None":
        """What keeps the port from being connected as far as these rows
        tell, or None (then ``port_uuid`` is set; its bridge is checked apart).
        Rows are found by name: the same check serves the hook's monitor of
        just these rows and the agent's monitor of whole tables."""
        self.port_uuid = None
        if _named(self.tables["Bridge"], bridge)[1] is None:
            return (f"bridge {bridge} does not exist; create it (ovs-vsctl add-br {bridge}) "
                    "or set bridge in [driver:ovs]")
        iface_uuid, iface = _named(self.tables["Interface"], dev)
        if iface is None:
            return (f"no interface {dev} in OVSDB: libvirt has not added the port "
                    "(does the NIC have <virtualport type='openvswitch'>?)")
        iface_id = iface.get("external_ids", {}).get("iface-id")
        if iface_id != vnic_id:
            return f"external_ids:iface-id={iface_id or '(none)'}, expected {vnic_id}"
        ports = [u for u, p in self.tables["Port"].items() if iface_uuid in p.get("interfaces", ())]
        if not ports:
            return f"no port {dev} holds interface {dev}"
        ofport = sorted(iface.get("ofport", ()))
        if not ofport:
            return f"interface {dev} has no ofport yet: ovs-vswitchd has not opened it (is it running?)"
        if not 0 < ofport[0] < _MAX_OFPORT:
            error = next(iter(iface.get("error", ())), "no error given")
            return f"ofport {ofport[0]}: ovs-vswitchd could not open it: {error}"
        self.port_uuid = ports[0]
        return None

    def on_bridge(self, bridge: str) -> bool:
        """Whether ``port_uuid`` is one of ``bridge``'s ports (when the
        Bridge rows are monitored with their ports, as the agent does)."""
        row = _named(self.tables["Bridge"], bridge)[1]
        return row is not None and self.port_uuid in row.get("ports", ())


def _named(rows: "dict[str, dict]", name: str) -> tuple:
    """(uuid, row) of the row called ``name``, or (None, None)."""
    for row_uuid, row in rows.items():
        if row.get("name") == name:
            return row_uuid, row
    return None, None


def wait_port(db: OvsDb, dev: str, bridge: str, vnic_id: str, wait: float) -> None:
    """Return once ``dev`` is on ``bridge`` with iface-id ``vnic_id`` and a
    valid ofport; NotReady naming what is missing after ``wait`` seconds.
    The monitor's first answer must come within the call timeout."""
    db.record(f"read OVSDB {db.remote}: monitor_cond Interface/Port {dev}, Bridge {bridge} "
              f"until ready, at most {wait:g} s")
    rpc = db.rpc()
    first = rpc.deadline()
    request_id = rpc.send("monitor_cond", [wire.DB, MONITOR_ID, requests(dev, bridge)], first)
    while True:
        msg = rpc.receive(first)
        if msg is None:
            raise wire.hung(db.remote, db.timeout)
        if msg.id == request_id and msg.type in (msg.T_REPLY, msg.T_ERROR):
            break
    if msg.error is not None:
        raise wire.failed(db.remote, msg.error)
    rows = Rows()
    rows.apply(msg.result)
    end = rpc.deadline(wait)
    problem = _check(rpc, rows, dev, bridge, vnic_id)
    while problem:
        msg = rpc.receive(end)
        if msg is None:
            raise NotReady(f"port {dev} not connected after {wait:g} s: {problem}")
        if msg.type == msg.T_NOTIFY and msg.method == "update2" and msg.params[0] == MONITOR_ID:
            rows.apply(msg.params[1])
            problem = _check(rpc, rows, dev, bridge, vnic_id)


def _check(rpc, rows: Rows, dev: str, bridge: str, vnic_id: str) -> "str | None":
    problem = rows.problem(dev, bridge, vnic_id)
    if problem is None:
        found = rpc.transact([{"op": "select", "table": "Bridge", "columns": ["name"],
                               "where": [["name", "==", bridge], ["ports", "includes", ["uuid", rows.port_uuid]]]}])
        if not found[0]["rows"]:
            problem = f"port {dev} is not on bridge {bridge}"
    return problem


def _decode(column: str, value):
    kind = _KINDS.get(column, "atom")
    return to_set(value) if kind == "set" else to_map(value) if kind == "map" else atom(value)


def _apply_diff(column: str, old, diff):
    """RFC 7047 update2 "modify": sets carry the symmetric difference, maps
    the changed pairs (a pair equal to the old one is a removal), other
    columns the new value."""
    kind = _KINDS.get(column, "atom")
    if kind == "set":
        return set(old or ()) ^ to_set(diff)
    if kind == "map":
        new = dict(old or {})
        for key, value in to_map(diff).items():
            if new.get(key) == value:
                del new[key]
            else:
                new[key] = value
        return new
    return atom(diff)

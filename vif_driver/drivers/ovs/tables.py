"""The subset of Open vSwitch's schema the ovs driver reads, and the
questions it asks of an IDL replica of it.

Plain functions of ``tables`` (an IDL's table name -> table, rows by uuid):
no connection, no side effects, so ovsdb.py's hook and agent paths share
them and tests can ask them of hand-built rows.
"""

from __future__ import annotations

DB = "Open_vSwitch"
_MAP = {"key": "string", "value": "string", "min": 0, "max": "unlimited"}
# The columns the driver reads, typed as in vswitch.ovsschema (stable since OVS 2.x).
SCHEMA = {
    "name": DB, "version": "8.3.0",
    "tables": {
        "Open_vSwitch": {"isRoot": True, "maxRows": 1, "columns": {"external_ids": {"type": _MAP}}},
        "Bridge": {"indexes": [["name"]], "columns": {
            "name": {"type": "string", "mutable": False},
            "ports": {"type": {"key": {"type": "uuid", "refTable": "Port"}, "min": 0, "max": "unlimited"}}}},
        "Port": {"indexes": [["name"]], "columns": {
            "name": {"type": "string", "mutable": False},
            "interfaces": {"type": {"key": {"type": "uuid", "refTable": "Interface"}, "min": 1,
                                    "max": "unlimited"}},
            "tag": {"type": {"key": {"type": "integer", "minInteger": 0, "maxInteger": 4095},
                             "min": 0, "max": 1}}}},
        "Interface": {"indexes": [["name"]], "columns": {
            "name": {"type": "string", "mutable": False},
            "ofport": {"type": {"key": "integer", "min": 0, "max": 1}},
            "external_ids": {"type": _MAP},
            "type": {"type": "string"},  # "" for a system device (network setup: physnet NICs)
            "mtu": {"type": {"key": "integer", "min": 0, "max": 1}, "ephemeral": True},
            "error": {"type": {"key": "string", "min": 0, "max": 1}},
            "link_state": {"type": {"key": "string", "min": 0, "max": 1}, "ephemeral": True}}},
    },
}

MAX_OFPORT = 0xff00  # OpenFlow port numbers of real ports are below this


def named(tables, table: str, name: str):
    """The row of ``table`` called ``name``, or None (the name index)."""
    from ovsdbapp.backend.ovs_idl import idlutils
    rows = tables[table]
    if "name" in getattr(rows.rows, "indexes", {}):
        return next(iter(idlutils.index_lookup_all(rows, name=name)), None)
    return next((r for r in rows.rows.values() if r.name == name), None)


def ports_of(bridge) -> set:
    """The port uuids of a Bridge row: from its client's cache (kept by
    the IDL's notify) when there, else decoded."""
    ports = getattr(bridge._idl, "bridge_ports", None) if hasattr(bridge, "_idl") else None
    if ports is not None and bridge.uuid in ports:
        return ports[bridge.uuid]
    return {p.uuid for p in bridge.ports}


def ports_on_bridges(tables, ifaces: list) -> list:
    """(Port, Bridge) of every port holding one of ``ifaces`` that is on a bridge."""
    found = []
    for port in tables["Port"].rows.values():
        if any(i in port.interfaces for i in ifaces):
            for bridge in tables["Bridge"].rows.values():
                if port.uuid in ports_of(bridge):
                    found.append((port, bridge))
    return found


def interface_entry(row) -> dict:
    """What stats reads of an Interface row (Client caches it per row)."""
    return {"name": row.name, "link_state": "up" if row.link_state == ["up"] else None}


def interface_rows(tables, cache: dict | None = None) -> list[dict]:
    """name and link_state of every Interface row, from ``cache`` (by row
    uuid) where it has them; the dicts are shared: do not change them."""
    cache = {} if cache is None else cache
    rows = tables["Interface"].rows
    found = []
    for uuid in rows:
        entry = cache.get(uuid)
        if entry is None:
            entry = cache[uuid] = interface_entry(rows[uuid])
        found.append(entry)
    return found


def ovn_problem(tables, dev: str, bridge: str) -> str | None:
    """On an OVN chassis, for a port on its integration bridge
    (external_ids:ovn-bridge, default br-int): why ovn-controller has not
    marked ``dev`` as installed (external_ids:ovn-installed="true", set once
    all its flows are in place: the port then carries traffic), or None."""
    rows = list(tables["Open_vSwitch"].rows.values())
    ids = rows[0].external_ids if rows else {}
    remote = ids.get("ovn-remote")
    if not remote or bridge != ids.get("ovn-bridge", "br-int"):
        return None
    iface = named(tables, "Interface", dev)
    if iface is not None and iface.external_ids.get("ovn-installed") == "true":
        return None
    return f"ovn-controller has not installed its flows; is it running, connected to {remote[:32]}?"


def port_problem(tables, dev: str, bridge: str, vnic_id: str) -> str | None:
    """What keeps the port from being connected, or None."""
    bridge_row = named(tables, "Bridge", bridge)
    if bridge_row is None:
        return f"bridge {bridge} does not exist; create it (ovs-vsctl add-br {bridge}) or set bridge in [driver:ovs]"
    iface = named(tables, "Interface", dev)
    if iface is None:
        return "not in OVSDB: libvirt has not added the port (does the NIC have <virtualport type='openvswitch'>?)"
    iface_id = iface.external_ids.get("iface-id")
    if iface_id != vnic_id:
        return f"external_ids:iface-id={iface_id or '(none)'}, expected {vnic_id}"
    port = named(tables, "Port", dev)
    if port is None or iface not in port.interfaces:
        return f"no port {dev} holds interface {dev}"
    ofport = sorted(iface.ofport)
    if not ofport:
        return f"interface {dev} has no ofport yet: ovs-vswitchd has not opened it (is it running?)"
    if not 0 < ofport[0] < MAX_OFPORT:
        error = next(iter(iface.error), "no error given")
        return f"ofport {ofport[0]}: ovs-vswitchd could not open it: {error}"
    if port.uuid not in ports_of(bridge_row):
        return f"port {dev} is not on bridge {bridge}"
    return None

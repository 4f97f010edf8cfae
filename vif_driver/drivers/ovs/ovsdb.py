"""OvsDb: every OVSDB read and write of the ovs driver, behind one small class.

Access per path, chosen by what it costs a short-lived hook process
(measured facts in docs/ovs-driver.md):
- caps and stats: one ``transact`` on a plain socket (wire.py), no ovs import;
- writes, the migration check and unplug reads: one-shot ``transact``
  through the ovs library's jsonrpc (imported on first use);
- the post-plug wait: a conditional monitor of the port's rows (monitor.py),
  never a download of whole tables.
Every call is bounded by ``timeout``; in a dry run reads happen and are
recorded, writes are only recorded.
"""

import errno
import os

from vif_driver.drivers.ovs import wire


class Rpc:
    """One JSON-RPC connection through the ovs library, every wait bounded."""

    def __init__(self, remote: str, timeout: float):
        import ovs.jsonrpc
        import ovs.poller
        import ovs.stream
        import ovs.timeval
        self._ovs = ovs
        self.remote, self.timeout = remote, timeout
        error, stream = ovs.stream.Stream.open_block(ovs.stream.Stream.open(remote), int(timeout * 1000))
        if error == errno.ETIMEDOUT:
            raise wire.hung(remote, timeout)
        if error:
            raise wire.down(remote, os.strerror(error))
        self.conn = ovs.jsonrpc.Connection(stream)

    def now(self) -> int:
        return self._ovs.timeval.msec()

    def deadline(self, seconds: "float | None" = None) -> int:
        return self.now() + int((self.timeout if seconds is None else seconds) * 1000)

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def send(self, method: str, params: list, deadline: int):
        """Send a request and flush it; returns the request's id."""
        msg = self._ovs.jsonrpc.Message.create_request(method, params)
        self._check(self.conn.send(msg))
        while self.conn.get_backlog():
            self.conn.run()
            self._check(self.conn.get_status())
            if self.now() >= deadline:
                raise wire.hung(self.remote, self.timeout)
            self._block(deadline)
        return msg.id

    def receive(self, deadline: int):
        """The next message other than echo, or None at the deadline."""
        jsonrpc = self._ovs.jsonrpc
        while True:
            self.conn.run()
            error, msg = self.conn.recv()
            if msg is not None:
                if msg.type == jsonrpc.Message.T_REQUEST and msg.method == "echo":
                    self.conn.send(jsonrpc.Message.create_reply(msg.params, msg.id))
                    continue
                return msg
            if error != errno.EAGAIN:
                self._check(error or errno.EPROTO)
            if self.now() >= deadline:
                return None
            self._block(deadline, recv=True)

    def call(self, method: str, params: list):
        """Send a request and return its reply message (bounded by timeout)."""
        deadline = self.deadline()
        request_id = self.send(method, params, deadline)
        while True:
            msg = self.receive(deadline)
            if msg is None:
                raise wire.hung(self.remote, self.timeout)
            if msg.id == request_id and msg.type in (msg.T_REPLY, msg.T_ERROR):
                return msg

    def transact(self, ops: list) -> list:
        reply = self.call("transact", [wire.DB] + ops)
        return wire.results(self.remote, reply.error, reply.result, len(ops))

    def _block(self, deadline: int, recv: bool = False) -> None:
        poller = self._ovs.poller.Poller()
        self.conn.wait(poller)
        if recv:
            self.conn.recv_wait(poller)
        poller.timer_wait_until(deadline)
        poller.block()

    def _check(self, error: int) -> None:
        if error:
            reason = os.strerror(error) if error > 0 else "connection closed by ovsdb-server"
            raise wire.down(self.remote, reason)


class OvsDb:
    """The driver's OVSDB operations on one remote, for one hook call."""

    def __init__(self, remote: str, timeout: float, record=None, dry_run: bool = False):
        self.remote, self.timeout, self.dry_run = remote, timeout, dry_run
        self.record = record or (lambda action, write=False: None)
        self._rpc = None

    def close(self) -> None:
        if self._rpc is not None:
            self._rpc.close()
            self._rpc = None

    def __enter__(self) -> "OvsDb":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def rpc(self) -> Rpc:
        if self._rpc is None:
            self._rpc = Rpc(self.remote, self.timeout)
        return self._rpc

    def quick_read(self, ops: list, what: str) -> list:
        """A read on a plain socket (caps, stats)."""
        self.record(f"read OVSDB {self.remote}: {what}")
        return wire.transact(self.remote, ops, self.timeout)

    def read(self, ops: list, what: str) -> list:
        self.record(f"read OVSDB {self.remote}: {what}")
        return self.rpc().transact(ops)

    def write(self, ops: list, what: str) -> "list | None":
        """Run a write transaction, or in a dry run only record it."""
        self.record(f"write OVSDB {self.remote}: {what}", write=True)
        if self.dry_run:
            return None
        return self.rpc().transact(ops)

    # -- the driver's questions -------------------------------------------------
    def host_info(self, bridge: str) -> "tuple[str | None, bool]":
        """(system-id, whether ``bridge`` exists) in one round trip."""
        found = self.quick_read([select("Open_vSwitch", [], ["external_ids"]),
                                 select("Bridge", [["name", "==", bridge]], ["name"])],
                                f"Open_vSwitch external_ids:system-id, Bridge {bridge}")
        rows = found[0]["rows"]
        system_id = to_map(rows[0].get("external_ids")).get("system-id") if rows else None
        return system_id, bool(found[1]["rows"])

    def interfaces(self, columns: "list[str]") -> "list[dict]":
        """Every Interface row, only ``columns``, in one read (stats)."""
        self.record(f"read OVSDB {self.remote}: Interface {','.join(columns)} of every row (monitor, once)")
        return wire.monitor_once(self.remote, "Interface", columns, self.timeout)

    def bridge_exists(self, bridge: str) -> bool:
        rows = self.read([select("Bridge", [["name", "==", bridge]], ["name"])],
                         f"select Bridge where name == {bridge}")[0]["rows"]
        return bool(rows)

    def vnic_connection(self, vnic_id: str, vm_id: "str | None") -> "tuple[str | None, str]":
        """(None, what was found) when an Interface carries
        external_ids:iface-id=vnic_id (and vm-id, when both are known) and
        its Port is on a bridge, whatever libvirt named the device (tapX or
        vnetN); else (the problem, ""). Reads only those rows; changes nothing."""
        rows = self.read([select("Interface", [["external_ids", "includes", ["map", [["iface-id", vnic_id]]]]],
                                 ["_uuid", "name", "external_ids"])],
                         f"select Interface where external_ids:iface-id == {vnic_id}")[0]["rows"]
        ifaces = {uuid_of(row["_uuid"]): row["name"] for row in rows
                  if not (vm_id and to_map(row.get("external_ids")).get("vm-id") not in (None, vm_id))}
        if not ifaces:
            return f"no interface in OVSDB has external_ids:iface-id={vnic_id}", ""
        ops = [select("Port", [["interfaces", "includes", ["uuid", u]]], ["_uuid"]) for u in ifaces]
        found = self.read(ops, "select Port of those interfaces")
        for iface_uuid, result in zip(ifaces, found):
            for port in result["rows"]:
                bridges = self.read([select("Bridge", [["ports", "includes", ["uuid", uuid_of(port["_uuid"])]]],
                                            ["name"])], "select Bridge holding that port")[0]["rows"]
                if bridges:
                    return None, (f"interface {ifaces[iface_uuid]} (iface-id {vnic_id}) is a port of "
                                  f"bridge {bridges[0]['name']}")
        names = ", ".join(sorted(ifaces.values()))
        return f"interface {names} with iface-id {vnic_id} is on no bridge", ""

    def remove_vnic_ports(self, vnic_id: str, dev: str, vm_id: "str | None") -> "list[str]":
        """Remove the port(s) of this vNIC that libvirt left behind: the
        Interface named ``dev`` or carrying external_ids:iface-id=vnic_id,
        if its iface-id is ours (and its vm-id, when both are known).
        Idempotent; returns what was (or in a dry run would be) removed."""
        columns = ["_uuid", "name", "external_ids"]
        found = self.read([select("Interface", [["name", "==", dev]], columns),
                           select("Interface", [["external_ids", "includes",
                                                 ["map", [["iface-id", vnic_id]]]]], columns)],
                          f"select Interface where name == {dev} or external_ids:iface-id == {vnic_id}")
        ours = {}
        for row in found[0]["rows"] + found[1]["rows"]:
            ids = to_map(row.get("external_ids"))
            if ids.get("iface-id") != vnic_id:
                continue  # another vNIC's port with a colliding name: not ours
            if vm_id and ids.get("vm-id") and ids["vm-id"] != vm_id:
                continue  # the same port id plugged for another VM
            ours[uuid_of(row["_uuid"])] = row["name"]
        if not ours:
            return []
        ops = [select("Port", [["interfaces", "includes", ["uuid", u]]], ["_uuid", "name"]) for u in ours]
        ops.append(select("Bridge", [], ["_uuid", "name", "ports"]))
        found = self.read(ops, "select Port of those interfaces, Bridge ports")
        bridges = found[-1]["rows"]
        removed, mutations = [], []
        for result in found[:-1]:
            for port in result["rows"]:
                port_uuid = uuid_of(port["_uuid"])
                for bridge in bridges:
                    if port_uuid in to_set(bridge.get("ports")):
                        mutations.append({"op": "mutate", "table": "Bridge",
                                          "where": [["_uuid", "==", ["uuid", uuid_of(bridge["_uuid"])]]],
                                          "mutations": [["ports", "delete", ["uuid", port_uuid]]]})
                        removed.append(f"port {port['name']} from bridge {bridge['name']}")
        if mutations:
            mutations.append({"op": "comment", "comment": f"vif-driver: unplug vNIC {vnic_id}"})
            self.write(mutations, "remove " + ", ".join(removed))
        return removed


def select(table: str, where: list, columns: "list[str]") -> dict:
    return {"op": "select", "table": table, "where": where, "columns": columns}


# -- OVSDB JSON values (RFC 7047 section 5.1) -----------------------------------
def atom(value):
    """An atom; a uuid becomes its string."""
    if isinstance(value, list) and len(value) == 2 and value[0] in ("uuid", "named-uuid"):
        return value[1]
    return value


def uuid_of(value) -> str:
    return atom(value)


def to_set(value) -> set:
    """A set column (a lone atom is a one-element set)."""
    if value is None:
        return set()
    if isinstance(value, list) and len(value) == 2 and value[0] == "set":
        return {atom(v) for v in value[1]}
    return {atom(value)}


def to_map(value) -> dict:
    if isinstance(value, list) and len(value) == 2 and value[0] == "map":
        return {atom(k): atom(v) for k, v in value[1]}
    return {}

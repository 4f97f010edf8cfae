"""A worker's mirror: an in-memory SQLite copy of the NB rows it serves.

ovn_store.py says why it exists.  The worker decodes the IDL's changed
rows (ovn_mapping.py) and hands them to ``Mirror.apply``; a request runs
store.py's Tx code on the mirror (``OvnTx``) inside a transaction that is
rolled back, and ``Mirror.plan`` reads what it touched (the temp triggers'
``dirty`` table) for the OVSDB transaction.
"""

from __future__ import annotations

import ipaddress
import logging
import sqlite3
import uuid

from . import ipam, segments
from . import ovn_mapping as m
from .errors import InvalidInput
from .rows import to_row
from .store import SCHEMA, Tx

log = logging.getLogger(__name__)

FOREIGN_ROWID = 1 << 50  # rows without vif_driver:seq (ovirt-provider-ovn's) sort after ours
MIRROR_SCHEMA = SCHEMA + segments.SCHEMA + """
ALTER TABLE ports ADD COLUMN ovn_up INTEGER NOT NULL DEFAULT 0;
CREATE TEMP TABLE dirty (kind TEXT, id TEXT, PRIMARY KEY (kind, id)) WITHOUT ROWID;
CREATE TEMP TABLE rebound (id TEXT PRIMARY KEY) WITHOUT ROWID;
""" + "".join(
    f"CREATE TEMP TRIGGER dirty_{t}_{op} AFTER {op} ON main.{t} BEGIN "
    f"INSERT OR IGNORE INTO dirty VALUES ('{kind}', {row}.{col}); END;\n"
    for t, kind, col in (("networks", "network", "id"), ("subnets", "subnet", "id"),
                         ("ports", "port", "id"), ("fixed_ips", "port", "port_id"))
    for op, row in (("INSERT", "NEW"), ("UPDATE", "NEW"), ("DELETE", "OLD")))


class OvnTx(Tx):
    """Tx on the mirror: OVN decides a port's status, rows get ordered ids."""

    controller = "ovn"  # OVN carries every network: drivers plug into br-int (vif_details)

    def __init__(self, conn: sqlite3.Connection, default_bridge: str, gen: int) -> None:
        super().__init__(conn, default_bridge)
        # Ids of rows this write inserts: above every earlier write's (a
        # bulk create may hold thousands), below FOREIGN_ROWID.
        self.next_rowid = (gen + 1) << 20

    def _check_backend(self, net: dict) -> None:
        # OVN switches every type; "local" (the API default) is the overlay.
        if net.get("provider:network_type") == "local":
            net["provider:network_type"] = "geneve"
            if net.get("mtu") in (None, 1500):
                net["mtu"] = m.OVIRT_DEFAULT_MTU

        seg = net.get("provider:segmentation_id")
        if net.get("provider:network_type") in m.TUNNEL_TYPES and seg is not None \
                and seg > m.MAX_TNL_KEY:
            raise InvalidInput(f"provider:segmentation_id {seg} is not an OVN tunnel key; use 1 "
                               f"through {m.MAX_TNL_KEY}, or none (OVN chooses).")

    def _check_segment_free(self, net: dict, own_id: str = "") -> None:
        # An overlay without a segmentation id gets its tunnel key from OVN.
        if net.get("provider:network_type") == "flat" or \
                net.get("provider:segmentation_id") is not None:
            super()._check_segment_free(net, own_id)

    def _insert(self, resource: str, attrs: dict) -> None:
        if resource == "port":
            attrs = {**attrs, "status": "DOWN"}  # until ovn-northd says up
        row = to_row(resource, attrs)
        self.next_rowid += 1
        table = {"network": "networks", "subnet": "subnets", "port": "ports"}[resource]
        self.q(f"INSERT INTO {table} (rowid, {','.join(row)}) VALUES "
               f"(?, {','.join('?' * len(row))})", [self.next_rowid, *row.values()])

    def _update(self, resource: str, res_id: str, attrs: dict) -> None:
        if resource == "port" and "status" in attrs:
            r = self.q("SELECT ovn_up, admin_state_up FROM ports WHERE id = ?", (res_id,)).fetchone()
            admin = attrs.get("admin_state_up", r["admin_state_up"])
            attrs = {**attrs, "status": "ACTIVE" if r["ovn_up"] and admin else "DOWN"}
        super()._update(resource, res_id, attrs)
        # What OVN rows derive from the change, marked for Mirror.plan:
        if resource == "port" and "binding:host_id" in attrs:
            # The API bound the port (again): only then may its chassis
            # change (a live migration's second PUT narrows it to the
            # destination); any other write keeps them as they are.
            self.q("INSERT OR IGNORE INTO rebound VALUES (?)", (res_id,))
        elif resource == "network" and "mtu" in attrs:  # the DHCP offers carry it
            self.q("UPDATE subnets SET network_id = network_id WHERE network_id = ?", (res_id,))
        elif resource == "subnet" and "enable_dhcp" in attrs:  # its ports' DHCP_Options reference
            self.q("UPDATE fixed_ips SET port_id = port_id WHERE subnet_id = ?", (res_id,))

    def delete_port(self, port_id: str) -> None:
        self.q("DELETE FROM fixed_ips WHERE port_id = ?", (port_id,))  # no FK cascade in the mirror
        super().delete_port(port_id)


class Mirror:
    """The SQLite rows, and which LSP holds which port (both ways)."""

    def __init__(self, default_bridge: str) -> None:
        self.db = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        self.db.row_factory = sqlite3.Row
        self.db.executescript(MIRROR_SCHEMA)
        self.default_bridge = default_bridge
        self.lsp_port: dict = {}   # LSP uuid -> port id
        self.port_lsp: dict = {}   # port id -> LSP uuid
        self.foreign = FOREIGN_ROWID

    def tx(self, gen: int) -> OvnTx:
        return OvnTx(self.db, self.default_bridge, gen)

    def start_write(self) -> None:
        """Inside BEGIN: forget what the last write marked (it may have
        been kept), so plan() sees only this one's changes."""
        self.db.execute("DELETE FROM dirty")
        self.db.execute("DELETE FROM rebound")

    def rows(self) -> list[tuple[str, uuid.UUID]]:
        """(NB table, uuid) of every row the mirror holds."""
        held = [("Logical_Switch", uuid.UUID(r[0])) for r in self.db.execute("SELECT id FROM networks")]
        held += [("DHCP_Options", uuid.UUID(r[0])) for r in self.db.execute("SELECT id FROM subnets")]
        held += [("Logical_Switch_Port", u) for u in self.lsp_port]
        return held

    def apply(self, gen: int, nets: list, subs: list, ports: list) -> None:
        """Write decoded rows, in one SQLite transaction: (id, None) is a
        deleted row, else (id, (columns..., vif_driver:seq or None)); ports
        by LSP uuid.  Re-renders the documents of the ports that changed."""
        render: set = set()
        q = self.db.execute
        q("BEGIN")
        try:
            for net_id, got in nets:
                if got is None:
                    q("DELETE FROM networks WHERE id = ?", (net_id,))
                elif self._upsert("networks", got[0], got[1]):
                    render.update(r[0] for r in q("SELECT id FROM ports WHERE network_id = ?",
                                                  (net_id,)))
            for sub_id, sub_got in subs:
                if sub_got is None:
                    q("DELETE FROM subnets WHERE id = ?", (sub_id,))
                else:
                    self._upsert("subnets", sub_got[0], sub_got[1])
            # One sync may hold several writes (a worker that served
            # nothing meanwhile): an address or MAC can have moved from one
            # port to another among them, in any order here. So first every
            # deleted port goes and every changed port lets go of the
            # addresses it no longer has, then the ports and addresses are
            # written. (In one pass, the port taking a freed address could
            # come first: its address row was ignored as a duplicate, then
            # deleted with the old holder's, and the address was handed
            # out again.)
            for lsp_uuid, port_got in ports:
                if port_got is None:
                    port_id = self.lsp_port.pop(lsp_uuid, None)
                    if port_id is not None and self.port_lsp.get(port_id) == lsp_uuid:
                        del self.port_lsp[port_id]
                        q("DELETE FROM fixed_ips WHERE port_id = ?", (port_id,))
                        q("DELETE FROM ports WHERE id = ?", (port_id,))
                        render.discard(port_id)
                elif self._drop_ips(port_got[0]["id"], port_got[1]):
                    render.add(port_got[0]["id"])
            later = []
            for lsp_uuid, port_got in ports:
                if port_got is None:
                    continue
                cols, ips, seqno = port_got
                self.lsp_port[lsp_uuid], self.port_lsp[cols["id"]] = cols["id"], lsp_uuid
                try:
                    changed = self._upsert("ports", cols, seqno)
                except sqlite3.IntegrityError:  # its MAC still held by a port written later here
                    later.append((lsp_uuid, *port_got))
                    continue
                if self._set_ips(cols["id"], cols["network_id"], ips) or changed:
                    render.add(cols["id"])
            for lsp_uuid, cols, ips, seqno in later:
                try:
                    self._upsert("ports", cols, seqno)
                except sqlite3.IntegrityError:  # another tool wrote one MAC twice on a network
                    log.warning("not serving Logical_Switch_Port %s: its MAC %s is another "
                                "port's on network %s", lsp_uuid, cols["mac_address"],
                                cols["network_id"])
                    del self.lsp_port[lsp_uuid], self.port_lsp[cols["id"]]
                    q("DELETE FROM fixed_ips WHERE port_id = ?", (cols["id"],))
                    q("DELETE FROM ports WHERE id = ?", (cols["id"],))  # as it was, if served
                    render.discard(cols["id"])
                    continue
                self._set_ips(cols["id"], cols["network_id"], ips)
                render.add(cols["id"])
            if render:
                ids = list(render)
                tx = self.tx(gen)
                for i in range(0, len(ids), 500):
                    chunk = ids[i:i + 500]
                    tx.render_port_docs(f" WHERE p.id IN ({','.join('?' * len(chunk))})", chunk)
        except BaseException:
            q("ROLLBACK")
            raise
        q("COMMIT")

    def _upsert(self, table: str, cols: dict, seqno: int | None) -> bool:
        cur = self.db.execute(f"SELECT * FROM {table} WHERE id = ?", (cols["id"],)).fetchone()
        if cur is not None:
            if all(cur[k] == v for k, v in cols.items()):
                return False
            sets = ",".join(f"{k} = ?" for k in cols)
            self.db.execute(f"UPDATE {table} SET {sets} WHERE id = ?", [*cols.values(), cols["id"]])
            return True
        if seqno is None:
            self.foreign += 1
            seqno = self.foreign
        self.db.execute(f"INSERT INTO {table} (rowid, {','.join(cols)}) VALUES "
                        f"(?, {','.join('?' * len(cols))})", [seqno, *cols.values()])
        return True

    def _drop_ips(self, port_id: str, ips: list[str]) -> bool:
        """Free the addresses of a port whose addresses changed; whether they did."""
        have = [r[0] for r in self.db.execute(
            "SELECT ip_address FROM fixed_ips WHERE port_id = ? ORDER BY rowid", (port_id,))]
        if have == ips:
            return False
        self.db.execute("DELETE FROM fixed_ips WHERE port_id = ?", (port_id,))
        return True

    def _set_ips(self, port_id: str, net_id: str, ips: list[str]) -> bool:
        have = [r[0] for r in self.db.execute(
            "SELECT ip_address FROM fixed_ips WHERE port_id = ? ORDER BY rowid", (port_id,))]
        if have == ips:
            return False
        self.db.execute("DELETE FROM fixed_ips WHERE port_id = ?", (port_id,))
        subnets = [(r["id"], ipaddress.ip_network(r["cidr"])) for r in self.db.execute(
            "SELECT id, cidr FROM subnets WHERE network_id = ? ORDER BY rowid", (net_id,))]
        for ip in ips:
            try:
                addr = ipaddress.ip_address(ip)
            except ValueError:
                continue
            sid = next((s for s, n in subnets if addr in n), None)
            if sid is not None:
                self.db.execute("INSERT OR IGNORE INTO fixed_ips (port_id, subnet_id, ip_address, "
                                "ip_key) VALUES (?, ?, ?, ?)", (port_id, sid, ip, ipam.ip_key(addr)))
        return True

    def plan(self, lsp_net: dict) -> dict:
        """What the request changed in the mirror (still inside its
        transaction); ``lsp_net``: the worker's LSP uuid -> LS uuid."""
        q = self.db.execute
        plan: dict = {"network": [], "subnet": [], "port": []}
        for kind, res_id in q("SELECT kind, id FROM dirty").fetchall():
            if kind == "network":
                row = q("SELECT *, rowid FROM networks WHERE id = ?", (res_id,)).fetchone()
                plan["network"].append((res_id, row))
            elif kind == "subnet":
                row = q("SELECT s.*, s.rowid, n.mtu AS net_mtu FROM subnets s LEFT JOIN networks n "
                        "ON n.id = s.network_id WHERE s.id = ?", (res_id,)).fetchone()
                plan["subnet"].append((res_id, row, row["net_mtu"] if row else 0))
            else:
                row = q("SELECT p.*, p.rowid, r.id IS NOT NULL AS rebound FROM ports p "
                        "LEFT JOIN rebound r ON r.id = p.id WHERE p.id = ?", (res_id,)).fetchone()
                ips: list = []
                subnet_of: dict = {}  # IP version -> the DHCP-enabled subnet of its first address
                if row is not None:
                    for f in q("SELECT f.ip_address, f.subnet_id, s.ip_version, s.enable_dhcp "
                               "FROM fixed_ips f JOIN subnets s ON s.id = f.subnet_id "
                               "WHERE f.port_id = ? ORDER BY f.rowid", (res_id,)):
                        ips.append(f["ip_address"])
                        if f["enable_dhcp"]:
                            subnet_of.setdefault(f["ip_version"], f["subnet_id"])
                lsp_uuid = self.port_lsp.get(res_id)
                plan["port"].append((res_id, row, ips, subnet_of, lsp_uuid,
                                     lsp_net.get(lsp_uuid)))
        return plan

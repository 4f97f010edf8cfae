"""Port operations: IP allocation from pools, MAC generation, VIF binding.

Kept apart from store.py because this is where Neutron's port semantics
live.  All methods run inside a write transaction (BEGIN IMMEDIATE), so the
"find a free address, then insert it" steps cannot interleave with another
request's.
"""

from __future__ import annotations

import ipaddress
import json
import secrets
import sqlite3
import uuid
from typing import Any

from . import ipam, segments, validation
from .errors import Conflict, InvalidInput, NeutronError, not_found
from .rows import Page, from_row, now

MAC_PREFIX = "fa:16:3e"
# The network's segment and local tag go into binding:vif_details (segments.py).
_PORT_SELECT = ("SELECT p.*, p.rowid, n.bridge_name AS net_bridge, "
                "n.network_type AS net_type, n.physical_network AS net_physnet, "
                "n.segmentation_id AS net_segment, t.tag AS net_tag "
                "FROM ports p JOIN networks n ON n.id = p.network_id "
                "LEFT JOIN local_tags t ON t.network_id = n.id")


class PortOps:
    """Mixin of Tx (store.py) for the /v2.0/ports resource."""

    conn: sqlite3.Connection
    default_bridge: str
    controller: str | None = None  # binding:vif_details controller (segments.vif_details)

    def q(self, sql: str, args: Any = ()) -> sqlite3.Cursor:
        raise NotImplementedError

    # reading ---------------------------------------------------------
    def list_ports(self, filters: dict[str, list[str]] | None = None
                   ) -> list[dict]:
        return self.find_ports(filters, None)[0]

    def find_ports(self, filters: dict[str, list[str]] | None,
                   page: Page | None) -> tuple[list[dict], bool]:
        """A page of ports as dicts, and whether more follow."""
        rows, more = self._page("port", _PORT_SELECT, filters, page, "p")
        return self._port_dicts(rows), more

    def find_port_docs(self, filters: dict[str, list[str]] | None,
                       page: Page | None) -> tuple[list[tuple[str, str]],
                                                   bool]:
        """A page of ports as (id, encoded JSON), and whether more follow.

        The engine lists every port on every vNIC operation; the documents
        are encoded when a port is written (``doc`` column), so a list is
        one indexed SELECT and a string join, not 10,000 dicts to build and
        encode.
        """
        rows, more = self._page(
            "port", "SELECT p.id, p.doc, p.rowid FROM ports p", filters,
            page, "p")
        stale = [r["id"] for r in rows if r["doc"] is None]
        fresh = {p["id"]: json.dumps(p) for p in self._port_dicts(
            self.q(f"{_PORT_SELECT} WHERE p.id IN "
                   f"({','.join('?' * len(stale))})", stale).fetchall())
        } if stale else {}
        return [(r["id"], r["doc"] or fresh[r["id"]]) for r in rows], more

    def get_port(self, port_id: str) -> dict:
        found = self._port_dicts(self.q(f"{_PORT_SELECT} WHERE p.id = ?",
                                        (port_id,)).fetchall())
        if not found:
            raise not_found("port", port_id)
        return found[0]

    def _port_dicts(self, rows: list[sqlite3.Row]) -> list[dict]:
        ports = []
        for r in rows:
            port = from_row("port", r)
            port["fixed_ips"] = []
            port["binding:vif_type"] = "ovs"
            port["binding:vif_details"] = segments.vif_details(
                r, self.default_bridge, port["port_security_enabled"], self.controller)
            ports.append(port)
        by_id = {p["id"]: p for p in ports}
        ids = list(by_id)
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            for f in self.q("SELECT port_id, subnet_id, ip_address FROM "
                            "fixed_ips WHERE port_id IN "
                            f"({','.join('?' * len(chunk))}) ORDER BY rowid",
                            chunk):
                by_id[f["port_id"]]["fixed_ips"].append(
                    {"subnet_id": f["subnet_id"],
                     "ip_address": f["ip_address"]})
        return ports

    def render_port_docs(self, where: str = "", args: Any = ()) -> int:
        """(Re-)encode the stored documents of the ports ``where`` selects
        (a condition on ``p``); every write that changes what a port looks
        like calls this, inside its transaction.  Returns how many."""
        rows = self.q(f"{_PORT_SELECT}{where}", args).fetchall()
        ports = self._port_dicts(rows)
        self.conn.executemany("UPDATE ports SET doc = ? WHERE id = ?",
                              [(json.dumps(p), p["id"]) for p in ports])
        return len(ports)

    def _written(self, port_id: str) -> dict:
        port = self.get_port(port_id)
        self.q("UPDATE ports SET doc = ? WHERE id = ?",
               (json.dumps(port), port_id))
        return port

    # writing ---------------------------------------------------------
    def create_port(self, attrs: dict) -> dict:
        net = self._network_row(attrs["network_id"])
        segments.ensure_local_tag(self.q, net["id"], net["network_type"])
        attrs = dict(attrs)
        fixed_ips = attrs.pop("fixed_ips")
        if attrs.get("mac_address") is None:
            attrs["mac_address"] = self._new_mac(net["id"])
        else:
            self._check_mac_free(net["id"], attrs["mac_address"])
        if attrs.get("port_security_enabled") is None:
            attrs["port_security_enabled"] = bool(net["port_security_enabled"])
        port_id = str(uuid.uuid4())
        stamp = now()
        self._insert("port", {**attrs, "id": port_id,
                              "status": _status(attrs),
                              "created_at": stamp, "updated_at": stamp})
        self._allocate(port_id, net["id"], fixed_ips, [])
        return self._written(port_id)

    def update_port(self, port_id: str, changes: dict) -> dict:
        port = self.get_port(port_id)
        changes = dict(changes)
        fixed_ips = changes.pop("fixed_ips", None)
        mac = changes.get("mac_address")
        if mac is not None and mac != port["mac_address"]:
            self._check_mac_free(port["network_id"], mac)
        elif "mac_address" in changes and mac is None:
            raise InvalidInput("mac_address cannot be null.")
        merged = {**port, **changes}
        changes["status"] = _status(merged)
        self._update("port", port_id, changes)
        if fixed_ips is not None:
            self.q("DELETE FROM fixed_ips WHERE port_id = ?", (port_id,))
            self._allocate(port_id, port["network_id"], fixed_ips,
                           port["fixed_ips"])
        return self._written(port_id)

    def delete_port(self, port_id: str) -> None:
        if self.q("DELETE FROM ports WHERE id = ?",
                  (port_id,)).rowcount == 0:
            raise not_found("port", port_id)

    # helpers ---------------------------------------------------------
    def _network_row(self, net_id: str) -> sqlite3.Row:
        row = self.q("SELECT * FROM networks WHERE id = ?",
                     (net_id,)).fetchone()
        if row is None:
            raise not_found("network", net_id)
        return row

    def _check_mac_free(self, net_id: str, mac: str) -> None:
        if self.q("SELECT 1 FROM ports WHERE network_id = ? AND "
                  "mac_address = ?", (net_id, mac)).fetchone():
            raise Conflict(f"Unable to complete operation for network "
                           f"{net_id}. The mac address {mac} is in use.",
                           type="MacAddressInUse")

    def _new_mac(self, net_id: str) -> str:
        for _ in range(16):
            tail = secrets.token_bytes(3)
            mac = MAC_PREFIX + "".join(f":{b:02x}" for b in tail)
            if not self.q("SELECT 1 FROM ports WHERE network_id = ? AND "
                          "mac_address = ?", (net_id, mac)).fetchone():
                return mac
        raise NeutronError("Unable to generate a unique mac on network "
                           f"{net_id}.", status=503,
                           type="MacAddressGenerationFailure")

    def _subnets(self, net_id: str) -> dict[str, sqlite3.Row]:
        return {r["id"]: r for r in self.q(
            "SELECT * FROM subnets WHERE network_id = ? ORDER BY rowid",
            (net_id,))}

    def _allocate(self, port_id: str, net_id: str, requested: list | None,
                  previous: list[dict]) -> None:
        """Give the port its fixed IPs, Neutron style.

        ``requested`` None means "one address per IP version from the first
        subnet with room"; otherwise each entry names a subnet, an address or
        both.  ``previous`` (on update) lets ``{"subnet_id": X}`` keep the
        address the port already had on X.
        """
        subnets = self._subnets(net_id)
        if requested is None:
            for version in (4, 6):
                candidates = [s for s in subnets.values()
                              if s["ip_version"] == version]
                if candidates and not any(self._allocate_from(port_id, s)
                                          for s in candidates):
                    raise _exhausted(net_id)
            return
        kept = {f["subnet_id"]: f["ip_address"] for f in previous}
        for entry in requested:
            sid = entry.get("subnet_id")
            if sid is not None:
                sid = validation.uuid_str("fixed_ips", sid)
                if sid not in subnets:
                    if not self.q("SELECT 1 FROM subnets WHERE id = ?",
                                  (sid,)).fetchone():
                        raise not_found("subnet", sid)
                    raise InvalidInput(f"Failed to create port on network "
                                       f"{net_id}, because fixed_ips included "
                                       f"invalid subnet {sid}")
            address = entry.get("ip_address")
            if address is None and sid is not None and sid in kept:
                address = kept.pop(sid)
            if address is None:
                if sid is None:
                    raise InvalidInput("fixed_ips entries need subnet_id or "
                                       "ip_address.")
                if not self._allocate_from(port_id, subnets[sid]):
                    raise _exhausted(net_id)
                continue
            self._assign(port_id, net_id, subnets, sid,
                         validation.ip("fixed_ips", address))

    def _assign(self, port_id: str, net_id: str, subnets: dict,
                sid: str | None, address: str) -> None:
        addr = ipaddress.ip_address(address)
        if sid is None:
            sid = next((s for s, row in subnets.items()
                        if addr in ipaddress.ip_network(row["cidr"])), None)
            if sid is None:
                raise NeutronError(f"IP address {address} is not a valid IP "
                                   f"for any subnet on network {net_id}.",
                                   status=400, type="InvalidIpForNetwork")
        net = ipaddress.ip_network(subnets[sid]["cidr"])
        lo, hi = ipam.usable_range(net)
        if addr.version != net.version or not lo <= int(addr) <= hi:
            raise NeutronError(f"IP address {address} is not a valid IP for "
                               f"the specified subnet {sid}.", status=400,
                               type="InvalidIpForSubnet")
        key = ipam.ip_key(addr)
        if self.q("SELECT 1 FROM fixed_ips WHERE subnet_id = ? AND "
                  "ip_key = ?", (sid, key)).fetchone():
            raise Conflict(f"Unable to complete operation for network "
                           f"{net_id}. The IP address {address} is in use.",
                           type="IpAddressInUse")
        self._insert_ip(port_id, sid, str(addr), key)

    def _insert_ip(self, port_id: str, sid: str, address: str,
                   key: str) -> None:
        self.q("INSERT INTO fixed_ips (port_id, subnet_id, ip_address, "
               "ip_key) VALUES (?, ?, ?, ?)", (port_id, sid, address, key))

    def _allocate_from(self, port_id: str, subnet: sqlite3.Row) -> bool:
        """Next free address of the subnet's pools; False when all are used.

        Fast path: one past the highest allocated address of a pool (an
        index lookup).  Only when that is the pool's end do we walk the
        ordered index looking for a gap left by a deleted port.
        """
        sid, version = subnet["id"], subnet["ip_version"]
        for start, end in ipam.pool_bounds(json.loads(
                subnet["allocation_pools"])):
            lo, hi = ipam.ip_key(start), ipam.ip_key(end)
            top = self.q("SELECT MAX(ip_key) FROM fixed_ips WHERE "
                         "subnet_id = ? AND ip_key BETWEEN ? AND ?",
                         (sid, lo, hi)).fetchone()[0]
            found = None
            if top is None:
                found = start
            elif ipam.key_to_int(top) < end:
                found = ipam.key_to_int(top) + 1
            else:
                expect = start
                for (k,) in self.q("SELECT ip_key FROM fixed_ips WHERE "
                                   "subnet_id = ? AND ip_key BETWEEN ? AND ? "
                                   "ORDER BY ip_key", (sid, lo, hi)):
                    if ipam.key_to_int(k) != expect:
                        found = expect
                        break
                    expect += 1
            if found is not None:
                self._insert_ip(port_id, sid, ipam.to_address(found, version),
                                ipam.ip_key(found))
                return True
        return False

    def _page(self, resource: str, head: str,
              filters: dict[str, list[str]] | None, page: Page | None,
              alias: str = "") -> tuple[list[sqlite3.Row], bool]:
        raise NotImplementedError

    def _insert(self, resource: str, attrs: dict) -> None:
        raise NotImplementedError

    def _update(self, resource: str, res_id: str, attrs: dict) -> None:
        raise NotImplementedError


def _status(port: dict) -> str:
    """ACTIVE once bound to a host and administratively up, as Neutron."""
    return "ACTIVE" if port.get("admin_state_up") and \
        port.get("binding:host_id") else "DOWN"


def _exhausted(net_id: str) -> Conflict:
    return Conflict(f"No more IP addresses available on network {net_id}.",
                    type="IpAddressGenerationFailure")

"""SQLite persistence: one transaction per API request.

Why SQLite: it ships with Python, is transactional and survives restarts,
which is all a reference provider needs.  Each thread (and each forked
gunicorn worker) gets its own connection; the database runs in WAL mode so
readers never block the writer, and every write starts with ``BEGIN
IMMEDIATE`` so two requests allocating an IP or a MAC on the same subnet are
serialised by SQLite itself, whichever process or thread they run in.  The
unique indexes on (subnet_id, ip_key) and (network_id, mac_address) are the
last line of defence.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import sqlite3
import threading
import urllib.parse
import uuid
from collections.abc import Iterator
from typing import Any, Callable, TypeVar

from . import segments, validation
from .errors import Conflict, InvalidInput, NeutronError, not_found
from .ports import PortOps
from .rows import SEGMENT_KEYS, TABLES, Page, cut_page, filter_sql, from_row, now, page_sql, to_row

T = TypeVar("T")
log = logging.getLogger(__name__)

# 2: ports.doc, the port's encoded JSON (NULL = to be rendered); meta.
SCHEMA_VERSION = 2
SCHEMA = """
CREATE TABLE IF NOT EXISTS networks (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, description TEXT NOT NULL,
    tenant_id TEXT NOT NULL, admin_state_up INTEGER NOT NULL,
    shared INTEGER NOT NULL, mtu INTEGER NOT NULL,
    port_security_enabled INTEGER NOT NULL, network_type TEXT NOT NULL,
    physical_network TEXT, segmentation_id INTEGER, bridge_name TEXT,
    created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS subnets (
    id TEXT PRIMARY KEY,
    network_id TEXT NOT NULL REFERENCES networks(id),
    name TEXT NOT NULL, description TEXT NOT NULL, tenant_id TEXT NOT NULL,
    cidr TEXT NOT NULL, ip_version INTEGER NOT NULL, gateway_ip TEXT,
    enable_dhcp INTEGER NOT NULL, dns_nameservers TEXT NOT NULL,
    allocation_pools TEXT NOT NULL, host_routes TEXT NOT NULL,
    ipv6_ra_mode TEXT, ipv6_address_mode TEXT,
    created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS subnets_network_id ON subnets(network_id);
CREATE TABLE IF NOT EXISTS ports (
    id TEXT PRIMARY KEY,
    network_id TEXT NOT NULL REFERENCES networks(id),
    name TEXT NOT NULL, description TEXT NOT NULL, tenant_id TEXT NOT NULL,
    mac_address TEXT NOT NULL, admin_state_up INTEGER NOT NULL,
    status TEXT NOT NULL, device_id TEXT NOT NULL, device_owner TEXT NOT NULL,
    security_groups TEXT NOT NULL, port_security_enabled INTEGER NOT NULL,
    host_id TEXT NOT NULL, profile TEXT NOT NULL, vnic_type TEXT NOT NULL,
    created_at TEXT NOT NULL, updated_at TEXT NOT NULL, doc TEXT,
    UNIQUE (network_id, mac_address));
CREATE INDEX IF NOT EXISTS ports_network_id ON ports(network_id);
CREATE INDEX IF NOT EXISTS ports_device_id ON ports(device_id);
CREATE INDEX IF NOT EXISTS ports_mac_address ON ports(mac_address);
CREATE INDEX IF NOT EXISTS ports_device_owner ON ports(device_owner);
CREATE INDEX IF NOT EXISTS ports_name ON ports(name);
CREATE TABLE IF NOT EXISTS fixed_ips (
    port_id TEXT NOT NULL REFERENCES ports(id) ON DELETE CASCADE,
    subnet_id TEXT NOT NULL REFERENCES subnets(id),
    ip_address TEXT NOT NULL, ip_key TEXT NOT NULL,
    UNIQUE (subnet_id, ip_key));
CREATE INDEX IF NOT EXISTS fixed_ips_port_id ON fixed_ips(port_id);
CREATE INDEX IF NOT EXISTS fixed_ips_ip_address ON fixed_ips(ip_address);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
"""

class Tx(PortOps):
    """Operations inside one transaction; raise NeutronError on bad input."""

    def __init__(self, conn: sqlite3.Connection, default_bridge: str) -> None:
        self.conn = conn
        self.default_bridge = default_bridge

    def q(self, sql: str, args: Any = ()) -> sqlite3.Cursor:
        return self.conn.execute(sql, args)

    def _insert(self, resource: str, attrs: dict) -> None:
        row = to_row(resource, attrs)
        self.q(f"INSERT INTO {TABLES[resource]} ({','.join(row)}) "
               f"VALUES ({','.join('?' * len(row))})", list(row.values()))

    def _update(self, resource: str, res_id: str, attrs: dict) -> None:
        row = to_row(resource, {**attrs, "updated_at": now()})
        sets = ",".join(f"{c} = ?" for c in row)
        self.q(f"UPDATE {TABLES[resource]} SET {sets} WHERE id = ?",
               [*row.values(), res_id])

    def _row(self, resource: str, res_id: str) -> sqlite3.Row:
        row = self.q(f"SELECT * FROM {TABLES[resource]} WHERE id = ?",
                     (res_id,)).fetchone()
        if row is None:
            raise not_found(resource, res_id)
        return row

    def _page(self, resource: str, head: str,
              filters: dict[str, list[str]] | None, page: Page | None,
              alias: str = "") -> tuple[list[sqlite3.Row], bool]:
        """Rows of ``head`` (a SELECT ... FROM, table aliased ``alias``)
        matching the filters, one page of them, and whether more follow."""
        page = page or Page()
        where, args = filter_sql(resource, filters or {}, alias=alias)
        marker = None
        if page.marker is not None:
            marker = self.q(f"SELECT *, rowid FROM {TABLES[resource]} "
                            "WHERE id = ?", (page.marker,)).fetchone()
            if marker is None:
                raise not_found(resource, page.marker)
        cond, cargs, order = page_sql(page, marker,
                                      alias + "." if alias else "")
        if cond:
            where = f"{where} AND {cond}" if where else f" WHERE {cond}"
        rows = self.q(head + where + order, [*args, *cargs]).fetchall()
        return cut_page(page, rows)

    # networks --------------------------------------------------------
    def list_networks(self, filters: dict[str, list[str]] | None = None
                      ) -> list[dict]:
        return self.find_networks(filters, None)[0]

    def find_networks(self, filters: dict[str, list[str]] | None,
                      page: Page | None) -> tuple[list[dict], bool]:
        rows, more = self._page("network", "SELECT *, rowid FROM networks",
                                filters, page)
        nets = [from_row("network", r) for r in rows]
        subnets: dict[str, list[str]] = {}
        for r in self.q("SELECT id, network_id FROM subnets ORDER BY rowid"):
            subnets.setdefault(r["network_id"], []).append(r["id"])
        for n in nets:
            n.update(status="ACTIVE", subnets=subnets.get(n["id"], []))
        return nets, more

    def get_network(self, net_id: str) -> dict:
        net = from_row("network", self._row("network", net_id))
        net.update(status="ACTIVE", subnets=[r["id"] for r in self.q(
            "SELECT id FROM subnets WHERE network_id = ? ORDER BY rowid",
            (net_id,))])
        return net

    def _check_backend(self, net: dict) -> None:
        """Refuse (or adapt) what this backend cannot make real."""
        segments.check_backend(net)

    def _check_segment_free(self, net: dict, own_id: str = "") -> None:
        ntype, phys, seg = (net[k] for k in SEGMENT_KEYS)
        if ntype == "local":
            return
        row = self.q("SELECT id FROM networks WHERE network_type = ? AND "
                     "physical_network IS ? AND segmentation_id IS ? AND "
                     "id != ?", (ntype, phys, seg, own_id)).fetchone()
        if row:
            kind = {"flat": "FlatNetworkInUse",
                    "vlan": "VlanIdInUse"}.get(ntype, "TunnelIdInUse")
            raise Conflict(f"Unable to create the network. The {ntype} "
                           f"segment {phys or ''}:{seg or ''} is already used "
                           f"by network {row['id']}.", type=kind)

    def create_network(self, attrs: dict) -> dict:
        self._check_backend(attrs)
        self._check_segment_free(attrs)
        stamp = now()
        net_id = str(uuid.uuid4())
        self._insert("network", {**attrs, "id": net_id, "created_at": stamp,
                                 "updated_at": stamp})
        segments.ensure_local_tag(self.q, net_id,
                                  attrs["provider:network_type"])
        return self.get_network(net_id)

    def update_network(self, net_id: str, changes: dict) -> dict:
        current = self.get_network(net_id)
        if "mtu" in changes and changes["mtu"] is None:  # back to default
            ntype = changes.get("provider:network_type",
                                current["provider:network_type"])
            changes["mtu"] = validation.DEFAULT_MTU.get(ntype, 1500)
        if any(k in changes for k in SEGMENT_KEYS):
            if self._port_count(net_id):
                raise Conflict(f"Unable to update provider attributes of "
                               f"network {net_id}: it has ports.",
                               type="NetworkInUse")
            merged = {**current, **changes}
            validation.check_segment(merged)
            self._check_backend(merged)
            # what the backend settled (OVN: "local" is its overlay, geneve)
            changes.update((k, merged[k]) for k in ("provider:network_type", "mtu")
                           if merged[k] != {**current, **changes}[k])
            self._check_segment_free(merged, net_id)
            segments.ensure_local_tag(self.q, net_id,
                                      merged["provider:network_type"])
        self._update("network", net_id, changes)
        if "vif_driver:bridge_name" in changes:  # in its ports' vif_details
            self.render_port_docs(" WHERE p.network_id = ?", (net_id,))
        return self.get_network(net_id)

    def delete_network(self, net_id: str) -> None:
        self._row("network", net_id)
        if self._port_count(net_id):
            raise Conflict(f"Unable to complete operation on network {net_id}"
                           ". There are one or more ports still in use on the"
                           " network.", type="NetworkInUse")
        self.q("DELETE FROM subnets WHERE network_id = ?", (net_id,))
        self.q("DELETE FROM networks WHERE id = ?", (net_id,))

    def _port_count(self, net_id: str) -> int:
        return self.q("SELECT COUNT(*) FROM ports WHERE network_id = ?",
                      (net_id,)).fetchone()[0]

    # subnets ---------------------------------------------------------
    def list_subnets(self, filters: dict[str, list[str]] | None = None
                     ) -> list[dict]:
        return self.find_subnets(filters, None)[0]

    def find_subnets(self, filters: dict[str, list[str]] | None,
                     page: Page | None) -> tuple[list[dict], bool]:
        rows, more = self._page("subnet", "SELECT *, rowid FROM subnets",
                                filters, page)
        return [from_row("subnet", r) for r in rows], more

    def get_subnet(self, subnet_id: str) -> dict:
        return from_row("subnet", self._row("subnet", subnet_id))

    def create_subnet(self, attrs: dict) -> dict:
        self._row("network", attrs["network_id"])
        new = ipaddress.ip_network(attrs["cidr"])
        for s in self.list_subnets({"network_id": [attrs["network_id"]]}):
            old = ipaddress.ip_network(s["cidr"])
            if old.version == new.version and old.overlaps(new):
                raise InvalidInput(f"Requested subnet with cidr: {new} for "
                                   f"network: {attrs['network_id']} overlaps "
                                   f"with another subnet ({s['id']}).")
        stamp = now()
        subnet_id = str(uuid.uuid4())
        self._insert("subnet", {**attrs, "id": subnet_id, "created_at": stamp,
                                "updated_at": stamp})
        return self.get_subnet(subnet_id)

    def update_subnet(self, subnet_id: str, changes: dict) -> dict:
        validation.check_subnet_update(self.get_subnet(subnet_id), changes)
        self._update("subnet", subnet_id, changes)
        return self.get_subnet(subnet_id)

    def delete_subnet(self, subnet_id: str) -> None:
        self._row("subnet", subnet_id)
        if self.q("SELECT 1 FROM fixed_ips WHERE subnet_id = ? LIMIT 1",
                  (subnet_id,)).fetchone():
            raise Conflict(f"Unable to complete operation on subnet "
                           f"{subnet_id}: One or more ports have an IP "
                           "allocation from this subnet.", type="SubnetInUse")
        self.q("DELETE FROM subnets WHERE id = ?", (subnet_id,))


class Store:
    """Opens per-thread connections to one SQLite file and hands out Tx.

    ``unwritable`` is None, or the reason the database could not be
    written at start-up (a full disk, a read-only file system): then the
    store serves reads from the file as it is and every write is a 503.
    """

    def __init__(self, path: str, *, default_bridge: str = "br-int") -> None:
        self.path = path
        self.default_bridge = default_bridge
        self.unwritable: str | None = None
        self._local = threading.local()
        parent = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(parent):
            try:
                os.makedirs(parent, exist_ok=True)
            except OSError as exc:
                cause = unwritable_cause(parent)
                if cause is None:
                    raise
                raise UnwritableDatabase(f"cannot create {parent}: {cause}"
                                         ) from exc
        try:
            self._prepare()
        except sqlite3.OperationalError as exc:
            cause = unwritable_cause(parent)
            if cause is None:
                raise
            if not os.path.isfile(path) or not os.path.getsize(path):
                raise UnwritableDatabase(f"{exc}: {cause}") from None
            self._serve_as_is(cause)

    def _prepare(self) -> None:
        """Schema, upgrades and stale documents; writes only what differs,
        so a database already current is opened without a write."""
        conn = self._connect()
        try:
            if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                conn.execute("PRAGMA journal_mode = WAL")
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise RuntimeError(f"database {self.path} has schema version "
                                   f"{version}, newer than this provider's "
                                   f"{SCHEMA_VERSION}; upgrade vif-driver")
            conn.executescript(SCHEMA + segments.SCHEMA)
            if "doc" not in [r["name"] for r in
                             conn.execute("PRAGMA table_info(ports)")]:
                conn.execute("ALTER TABLE ports ADD COLUMN doc TEXT")
            if version != SCHEMA_VERSION:
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            self._refresh_docs(conn)
        finally:
            conn.close()

    def _serve_as_is(self, cause: str) -> None:
        """Read-only service from the file as it is (SQLite's immutable
        mode: no lock, no -shm file to create, nothing written)."""
        self.unwritable = cause
        conn = self._connect()
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
        finally:
            conn.close()
        if version != SCHEMA_VERSION:
            raise UnwritableDatabase(
                f"{cause}, and the database has schema version {version} "
                f"(this provider needs {SCHEMA_VERSION}, which means writing)")
        wal = self.path + "-wal"
        lost = os.path.getsize(wal) if os.path.isfile(wal) else 0
        log.warning("database %s cannot be written (%s): serving reads only, "
                    "writes answer 503%s", self.path, cause,
                    f"; the {lost} bytes of recent commits in {wal} are not "
                    "seen until it can" if lost else "")

    def _refresh_docs(self, conn: sqlite3.Connection) -> None:
        """Encode the port documents a schema upgrade or another --bridge
        (the bridge of networks that name none) left stale."""
        conn.execute("BEGIN IMMEDIATE")
        try:
            row = conn.execute("SELECT value FROM meta WHERE key = "
                               "'default_bridge'").fetchone()
            if row is None or row["value"] != self.default_bridge:
                conn.execute("UPDATE ports SET doc = NULL WHERE network_id "
                             "IN (SELECT id FROM networks WHERE bridge_name "
                             "IS NULL)")
                conn.execute("INSERT OR REPLACE INTO meta VALUES "
                             "('default_bridge', ?)", (self.default_bridge,))
            segments.upgrade(conn.execute)
            Tx(conn, self.default_bridge).render_port_docs(
                " WHERE p.doc IS NULL")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _connect(self) -> sqlite3.Connection:
        if self.unwritable:
            uri = "file:" + urllib.parse.quote(os.path.abspath(self.path))
            conn = sqlite3.connect(uri + "?immutable=1", uri=True,
                                   isolation_level=None,
                                   check_same_thread=False)
            conn.row_factory = sqlite3.Row
            return conn
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None,
                               check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA synchronous = FULL")
        return conn

    def _conn(self) -> sqlite3.Connection:
        # A connection must never cross a fork: gunicorn forks workers after
        # the Store was created in the master.
        local = self._local
        if getattr(local, "pid", None) != os.getpid():
            local.conn, local.pid = self._connect(), os.getpid()
        return local.conn

    @contextlib.contextmanager
    def _tx(self, begin: str) -> Iterator[Tx]:
        conn = self._conn()
        conn.execute(begin)
        try:
            yield Tx(conn, self.default_bridge)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def read(self) -> contextlib.AbstractContextManager[Tx]:
        """A consistent snapshot for one GET request."""
        return self._tx("BEGIN")

    def write(self) -> contextlib.AbstractContextManager[Tx]:
        """Takes the write lock at once, so read-check-insert cannot race."""
        if self.unwritable:
            raise NeutronError(f"The provider serves reads only: its "
                               f"database cannot be written ({self.unwritable})"
                               "; retry when the administrator has fixed it",
                               status=503, type="ServiceUnavailable")
        return self._tx("BEGIN IMMEDIATE")

    def transact(self, body: Callable[[Tx], T]) -> T:
        """``body`` in one write transaction; what the app calls, so a
        backend that must rerun a request (ovn_store.py) can."""
        with self.write() as tx:
            return body(tx)

class UnwritableDatabase(sqlite3.OperationalError):
    """The database cannot be created or brought up to date, and the
    message says why (a full disk, a read-only file system)."""


def unwritable_cause(directory: str) -> str | None:
    """Why nothing can be written in ``directory`` (or the nearest
    existing directory above it), if a reason shows: the one-line cause
    named in start-up messages."""
    while not os.path.isdir(directory) and os.path.dirname(directory) != directory:
        directory = os.path.dirname(directory)
    try:
        st = os.statvfs(directory)
    except OSError:
        return None
    if st.f_flag & os.ST_RDONLY:
        return f"{directory} is on a read-only file system"
    if st.f_bavail == 0 or (st.f_favail == 0 and st.f_files):
        return f"the disk of {directory} is full"
    if not os.access(directory, os.W_OK):
        return f"{directory} is not writable by this user"
    return None

"""One worker process's view of the NB database: IDL, mirror, commits.

See ovn_store.py for why the mirror exists.  The IDL runs in ovsdbapp's
connection thread; ``notify`` only records which rows changed, and
``sync`` (in the request's thread, under ovsdbapp's lock) decodes those
rows and hands them to the mirror (ovn_mirror.py), skipping a switch whose
only change is its ``ports`` column, so a port create does not re-render
10,000 port documents because the switch's ``ports`` column grew.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from typing import Any, Callable

from ovs.db import data as ovs_data
from ovs.db import idl as ovs_idl
from ovs.db import types as ovs_types
from ovsdbapp import exceptions as ovsdbapp_exceptions
from ovsdbapp.backend.ovs_idl import connection
from ovsdbapp.schema.ovn_northbound import impl_idl

from . import ovn_mapping as m
from .errors import NeutronError
from .ovn_commands import ApplyPlan, ChosenUuidProbe, ProbeTransaction, generation
from .ovn_mirror import Mirror
from .ovn_rpc import Rpc
from .ovn_store import GEN, TABLES, _Stale, unavailable

PROBE_MS = 5000
log = logging.getLogger(__name__)


def _api_class() -> type:
    # ovsdbapp keeps the connection in a class attribute: one class per store.
    return type("NbApi", (impl_idl.OvnNbApiIdlImpl,), {"_ovsdb_connection": None})


class _Worker:
    def __init__(self, store: Any) -> None:
        self.store, self.remote = store, store.remote
        self.rpc = Rpc(store.remote, store.timeout, store.ssl)
        schema = self.rpc.call("get_schema", ["OVN_Northbound"])
        helper = ovs_idl.SchemaHelper(None, schema)
        for table in TABLES:
            helper.register_table(table)
        dirty: set = set()
        self.dirty = dirty
        lsp_net: dict = {}    # LSP uuid -> LS uuid
        self.lsp_net = lsp_net
        # New LSPs whose switch is not known yet, and switches whose ports
        # changed: sync() pairs them (see _own_new_ports).
        unowned: set = set()
        self.unowned = unowned
        reported: set = set()
        self.ports_changed = reported

        class Idl(connection.OvsdbIdl):
            def cooperative_yield(self) -> None:
                """No eventlet here: ovsdbapp's sleep per row only slows the dump."""

            def notify(self, event: Any, row: Any, updates: Any = None) -> None:
                """Only records what changed: runs in the IDL's loop, per row."""
                name = row._table.name
                if name not in TABLES:  # python-ovs 3.1 also reports _Server's Database rows
                    return
                if name == "Logical_Switch" and event != ovs_idl.ROW_DELETE:
                    changed = getattr(updates, "_data", None) if updates is not None else None
                    if changed is None or "ports" in changed:
                        reported.add(row.uuid)
                    if changed is not None and changed.keys() == {"ports"}:
                        return  # a port written: the network reads the same, skip decoding it
                elif name == "Logical_Switch_Port" and event == ovs_idl.ROW_CREATE:
                    unowned.add(row.uuid)
                dirty.add((name, row.uuid))

        self.idl = Idl(store.remote, helper, probe_interval=PROBE_MS)
        self.conn = connection.Connection(self.idl, store.timeout)
        try:
            self.api = _api_class()(self.conn, start=True, auto_index=False)
        except Exception as exc:
            raise unavailable(store.remote, f"cannot monitor ({exc})") from None
        self.lock = threading.RLock()
        self.queue: list = []  # writers waiting for the lock (ovn_store._Job)
        self.mirror = Mirror(store.default_bridge)
        self.unservable: set = set()  # (table, uuid) of NB rows warned about
        self.gen = 0
        self.ls_localnet: dict = {}  # LS uuid -> its localnet LSP's uuid
        try:
            self._ensure_nb_global()
            self._check_chosen_uuids()
        except BaseException:
            self.close()
            raise
        self.session = None  # the IDL's connection the mirror was last made whole from
        self.sync()

    def _reconcile(self) -> None:
        """After a (re)connection's dump (under the IDL's lock): every row
        again, and the rows the mirror has that the dump lacks as deleted.

        Why: a standalone ovsdb-server cannot resume a monitor, so after a
        reconnection python-ovs clears its tables and loads the dump
        without a delete notice for rows deleted meanwhile (by another
        worker, provider or ovn-nbctl); the mirror would keep serving them
        and their addresses would count as in use."""
        tables = self.idl.tables
        for t in TABLES:
            self.dirty.update((t, u) for u in tables[t].rows)
        self.lsp_net.clear()
        for ls in tables["Logical_Switch"].rows.values():
            for p in m.port_uuids(ls):
                self.lsp_net[p] = ls.uuid
        self.unowned.clear()
        self.ports_changed.clear()
        self.dirty.update(d for d in self.mirror.rows() if d[1] not in tables[d[0]].rows)

    def _ensure_nb_global(self) -> None:
        if not self.idl.tables["NB_Global"].rows:  # a bare database; ovn-nbctl init makes it
            try:
                with self.api.transaction(check_error=True) as txn:
                    # A column set: python-ovs 3.1 sends no insert of an empty row.
                    txn.add(self.api.db_create("NB_Global", external_ids={GEN: "0"}))
            except Exception as exc:  # another worker made it first
                if self.idl.tables["NB_Global"].rows:
                    return
                raise unavailable(self.remote, f"cannot create NB_Global ({exc})") from None

    def close(self) -> None:
        self.conn.stop(self.store.timeout)  # its thread closes the IDL's connection
        self.rpc.close()

    def _check_chosen_uuids(self) -> None:
        """A network's id is its switch's _uuid, chosen by us: python-ovs
        3.1.0-3.1.4, 3.2.0-3.2.2 and 3.3.0 cannot send such an insert (a
        uuid.UUID in the JSON).  Asked of the library, not its version
        number: distributions backport the fix without changing it."""
        txn = ProbeTransaction(self.api, self.conn, self.store.timeout, check_error=True,
                                log_errors=False)
        txn.add(ChosenUuidProbe(self.api))
        try:
            txn.commit()
        except TypeError:
            from ovs.version import VERSION
            why = (f"python-ovs {VERSION} cannot insert rows with a chosen UUID; install "
                   "python3-openvswitch (or pip's ovs) 3.1.5, 3.2.3, 3.3.1, 3.4 or newer")
            log.error("the OVN backend cannot write: %s", why)
            raise NeutronError(f"OVN northbound backend cannot write: {why}", status=503,
                               type="ServiceUnavailable") from None
        except Exception as exc:
            raise unavailable(self.remote, f"cannot write ({exc})") from None

    # -- reading the IDL into the mirror -----------------------------------
    def catch_up(self) -> None:
        """Wait until the IDL holds every write the server has committed."""
        target = self.rpc.generation(GEN)
        deadline = time.monotonic() + self.store.timeout
        while True:
            self.sync()
            if self.gen >= target:
                return
            if time.monotonic() > deadline:
                raise unavailable(self.remote, "the monitor lags behind the database")
            time.sleep(0.0005)

    def refresh(self) -> None:
        """sync() after letting the IDL take what the server has already
        sent (the request's greenlet runs the IDL's loop once, without
        waiting): a write that queued behind another worker's write then
        usually starts from the mirror that write made, instead of
        computing on the older one and colliding at the generation."""
        with self.conn.lock:
            self.idl.run()
        self.sync()

    def caught_up_changes(self) -> bool:
        """catch_up(); whether the generation moved."""
        before = self.gen
        self.catch_up()
        return self.gen != before

    def sync(self) -> None:
        with self.conn.lock:
            session = self.idl._last_seqno  # python-ovs: which connection the IDL is on
            if session != self.session and self.idl.state == self.idl.IDL_S_MONITORING:
                self.session = session  # that connection's dump is in: make the mirror whole
                self._reconcile()
            if self.unowned:
                self._own_new_ports()
            self.ports_changed.clear()
            if not self.dirty:
                return
            lsps = self.idl.tables["Logical_Switch_Port"].rows
            for table, row_uuid in list(self.dirty):
                if table == "Logical_Switch_Port":
                    row = lsps.get(row_uuid)
                    owner = self.lsp_net.get(row_uuid)
                    if row is not None and row.type == "localnet" and owner is not None:
                        self.ls_localnet[owner] = row_uuid
                    elif owner is not None and self.ls_localnet.get(owner) == row_uuid:
                        del self.ls_localnet[owner]
                    else:
                        continue
                    # The network reads its type, physnet and VLAN from its
                    # localnet port: decode the switch again too.
                    self.dirty.add(("Logical_Switch", owner))
            todo = sorted(self.dirty, key=lambda d: TABLES.index(d[0]))
            self.dirty.clear()
            nets, subs, ports = [], [], []
            for table, row_uuid in todo:
                row = self.idl.tables[table].rows.get(row_uuid)
                if table == "NB_Global":
                    if row is not None:
                        self.gen = generation(row)
                elif table == "Logical_Switch":
                    nets.append((str(row_uuid), None if row is None else self._decoded(
                        row, lambda r: (m.network_columns(r, self.localnet(r)), m.seq(r.external_ids)))))
                elif table == "DHCP_Options":
                    subs.append((str(row_uuid), None if row is None else self._decoded(
                        row, lambda r: (m.subnet_columns(r), m.seq(r.external_ids)))))
                elif row is None:
                    self.lsp_net.pop(row_uuid, None)
                    ports.append((row_uuid, None))
                elif row.type == "":
                    ports.append((row_uuid, self._decoded(row, lambda r: (
                        *m.port_columns(r, str(self.lsp_net.get(r.uuid, ""))), m.seq(r.external_ids)))))
        self.mirror.apply(self.gen, nets, subs, ports)

    def _decoded(self, row: Any, decode: Callable[[Any], Any]) -> Any:
        """decode(row), or None (the row is served as absent) when it holds
        what the API cannot express (another tool's row: a cidr or a
        number that does not parse, a port without a MAC): one warning per
        row, and the rest of the change still reaches the mirror."""
        try:
            return decode(row)
        except (ValueError, TypeError, KeyError) as exc:
            key = (row._table.name, row.uuid)
            if key not in self.unservable:
                self.unservable.add(key)
                log.warning("not serving %s %s: %s", *key, exc)
            return None

    def _own_new_ports(self) -> None:
        """The switch of each new LSP (under the IDL's lock).

        An LSP row does not name its switch; the switch's ``ports`` column
        names the LSP, and both change in one update.  So each new LSP is
        looked up in the switches whose ports changed in the same updates:
        one dict lookup per new port and changed switch.  (A set difference
        of the old and new ``ports`` per switch update hashed every Atom of
        the column in Python: O(ports of the switch) per port written.)
        """
        lss = self.idl.tables["Logical_Switch"].rows
        candidates = [ls for ls in (lss.get(u) for u in self.ports_changed) if ls is not None]
        for lsp_uuid in list(self.unowned):
            atom = ovs_data.Atom(ovs_types.UuidType, lsp_uuid)
            owner = next((ls for ls in candidates if atom in ls._data["ports"].values), None)
            if owner is None:  # not in this update's switches (rare): look everywhere
                owner = next((ls for ls in lss.values() if atom in ls._data["ports"].values), None)
            self.unowned.discard(lsp_uuid)  # an LSP in no switch is gone at commit (OVSDB GC)
            if owner is not None:
                self.lsp_net[lsp_uuid] = owner.uuid

    def localnet(self, ls: Any) -> Any:
        """The switch's localnet port row, or None (without decoding its ports)."""
        lsp = self.ls_localnet.get(ls.uuid)
        return None if lsp is None else self.idl.tables["Logical_Switch_Port"].rows.get(lsp)

    # -- writing -------------------------------------------------------------
    def refers_to_new_rows(self, plan: dict) -> bool:
        """Whether a port in the plan is on a network, or takes an address
        from a subnet, that the same plan creates (a group commit of
        requests queued together).

        Such a batch goes one request per transaction: the IDL has no row
        to refer to yet, and python-ovs before 3.2.6/3.3.9 loses a
        reference to a row inserted with a chosen UUID in the same
        transaction (it names it by a named-uuid nobody declared)."""
        with self.conn.lock:
            tables = self.idl.tables
            nets = {n for n, row in plan["network"]
                    if row is not None and uuid.UUID(n) not in tables["Logical_Switch"].rows}
            subs = {s for s, row, _mtu in plan["subnet"]
                    if row is not None and uuid.UUID(s) not in tables["DHCP_Options"].rows}
        return bool(nets or subs) and any(
            port is not None and (port["network_id"] in nets or subs & set(subnet_of.values()))
            for _id, port, _ips, subnet_of, _lsp, _ls in plan["port"])

    def commit(self, plan: dict, gen: int) -> None:
        """The plan as one OVSDB transaction through ovsdbapp (its
        connection thread commits it). The IDL has applied the change when
        this returns: the server sends the update before the reply.
        (Driving the transaction in the request's greenlet under ovsdbapp's
        lock instead measured no faster under gevent: the thread hop is a
        pipe write and a switch; the time is python-ovs's and the server's.)"""
        if not any(plan.values()):
            return
        apply = ApplyPlan(self.api, plan, gen, self.localnet)
        try:
            with self.api.transaction(check_error=True, log_errors=False) as txn:
                txn.add(apply)
        except _Stale:
            raise
        except NeutronError:
            raise
        except Exception as exc:
            # ovsdbapp's timeout leaves the transaction queued for its
            # thread; the request answers 503, so it must not run later.
            apply.cancelled = True
            if isinstance(exc, ovsdbapp_exceptions.TimeoutException):  # its text lists the commands
                raise unavailable(self.remote, f"no commit within {self.store.timeout:g} s") from None
            raise unavailable(self.remote, f"transaction failed ({type(exc).__name__})") from None

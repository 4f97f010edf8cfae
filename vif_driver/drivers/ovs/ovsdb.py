"""The ovs driver's one OVSDB client, on ovsdbapp.

``Client`` is one ovsdbapp ``Connection`` to a remote: an IDL (the ovs
library's in-memory replica) of just the tables and columns the driver
reads (tables.SCHEMA), and ovsdbapp's Open_vSwitch API for the writes. Every
read is a memory read of that replica once it holds the server's contents.

- A hook process (root, no agent) makes a Client per call: ``sync()``
  connects and waits for the initial contents, then reads; a write starts
  ovsdbapp's connection thread and commits one transaction.
- The agent keeps one Client per remote (view.py): ovsdbapp's thread keeps
  the IDL current through its monitor, reconnecting by itself.

Every wait is bounded by ``timeout`` (connect, initial contents, each
transaction); the post-plug wait by ``plug_timeout``. A stopped switch is
``OvsdbDown``, a hung one ``OvsdbTimeout``, a refusal ``OvsdbError``: one
line naming the remote and the fix. The schema is that subset, so no
``get_schema`` round trip is needed (ovsdbapp's own fetch has no timeout).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable

from vif_driver.api import HostError, NotReady
from vif_driver.drivers.ovs.tables import (
    SCHEMA,
    interface_entry,
    interface_rows,
    named,
    ovn_problem,
    port_problem,
    ports_on_bridges,
)

log = logging.getLogger(__name__)
# ovsdbapp logs from its thread; a hook process has no handler and must not
# get Python's last-resort stderr output (one line per failure).
logging.getLogger("ovsdbapp").addHandler(logging.NullHandler())

PROBE_MS = 1000  # idle connections are probed after this long, dropped after twice it


class OvsdbDown(HostError):
    """Nothing answers at the remote: Open vSwitch is stopped or unreachable."""


class OvsdbTimeout(HostError):
    """ovsdb-server took the connection but did not answer in time (hung)."""


class OvsdbError(HostError):
    """ovsdb-server refused a transaction."""


ERRORS = (OvsdbDown, OvsdbTimeout, OvsdbError)


def down(remote: str, reason: str) -> OvsdbDown:
    from vif_driver.drivers.ovs.remote import start_hint
    return OvsdbDown(f"Open vSwitch is down at {remote} ({reason}); {start_hint()}, "
                     "or fix ovsdb in [driver:ovs]")


def hung(remote: str, timeout: float) -> OvsdbTimeout:
    return OvsdbTimeout(f"ovsdb-server at {remote} did not answer within {timeout:g} s; "
                        "check `ovs-appctl -t ovsdb-server version`, or raise [vif-driver] timeout")


def failed(remote: str, error: object) -> OvsdbError:
    text = " ".join(str(error).split()).replace("OVSDB Error: ", "")
    return OvsdbError(f"ovsdb-server at {remote} refused the request: {text}")


def _backend_class():
    """A subclass of ovsdbapp's Open_vSwitch API per client: the API keeps
    its connection in a class attribute (one per class), and a process may
    talk to several remotes."""
    from ovsdbapp.schema.open_vswitch import impl_idl
    return type("Backend", (impl_idl.OvsdbIdl,), {"_ovsdb_connection": None})


class Client:
    """One ovsdbapp connection to ``remote`` and its IDL of ``SCHEMA``, or
    of just ``tables`` (table -> columns, a part of it: a hook process
    reads what its one question needs)."""

    def __init__(self, remote: str, timeout: float, tables: dict | None = None):
        from ovs.db import idl as ovs_idl
        from ovsdbapp.backend.ovs_idl import connection

        self.remote, self.timeout = remote, timeout
        self.tables = tables
        self.changed = threading.Condition()  # notified on every change the IDL applies

        changed = self.changed
        # name and link_state of each Interface row by uuid, kept as the IDL
        # applies changes: a row's attributes are decoded on every access
        # (~50 us), too slow for 1,000 rows per stats request.
        self.interfaces: dict = {}
        interfaces = self.interfaces
        self.bridge_ports: dict = {}  # likewise the port uuids of each Bridge (thousands of refs)
        bridge_ports = self.bridge_ports

        class Idl(connection.OvsdbIdl):
            def cooperative_yield(self):
                """ovsdbapp sleeps here after every row (for eventlet):
                0.1 ms a row, 0.2 s of a 1,000-vNIC table dump."""

            def notify(self, event, row, updates=None):  # in the thread that runs the IDL
                table = row._table.name
                if table == "Interface" or (table == "Bridge" and "ports" in row._table.columns):
                    cache = interfaces if table == "Interface" else bridge_ports
                    if event == ovs_idl.ROW_DELETE:
                        cache.pop(row.uuid, None)
                    else:
                        cache[row.uuid] = interface_entry(row) if table == "Interface" else {p.uuid for p in row.ports}
                with changed:
                    changed.notify_all()

        helper = ovs_idl.SchemaHelper(None, SCHEMA)  # (location, schema): the schema given, no file
        if tables is None:
            helper.register_all()  # all of SCHEMA: it holds only what the driver reads
        for table, columns in (tables or {}).items():
            helper.register_columns(table, columns)
        self.idl = Idl(remote, helper, probe_interval=PROBE_MS)
        self.idl.bridge_ports = self.bridge_ports  # read by tables.ports_of (rows know their idl)
        # The ovs library never probes unix: connections (it trusts the
        # peer to close them); a SIGSTOP'd ovsdb-server would then keep the
        # agent's view "current" forever. Probe them too.
        self.idl._session.reconnect.set_probe_interval(PROBE_MS)
        self.connection = connection.Connection(self.idl, timeout)
        self.api = _backend_class()(self.connection, start=False)
        self._monitoring = ovs_idl.Idl.IDL_S_MONITORING

    # -- connection state ---------------------------------------------------------
    def current(self) -> bool:
        """Connected, and the IDL holds the server's contents."""
        return self.idl.state == self._monitoring and self.idl._session.is_connected()

    @property
    def threaded(self) -> bool:
        return self.connection.thread is not None

    def probe(self) -> None:
        """Whether anything listens at the remote (one connect, closed at
        once): a stopped switch is reported at once, not after ``timeout``."""
        import errno
        import os

        import ovs.stream
        error, stream = ovs.stream.Stream.open(self.remote)
        if not error:
            error, stream = ovs.stream.Stream.open_block((error, stream), int(self.timeout * 1000))
        if stream is not None:
            stream.close()
        if error == errno.ETIMEDOUT:
            raise hung(self.remote, self.timeout)
        if error:
            raise down(self.remote, os.strerror(error))

    def sync(self, timeout: float | None = None) -> None:
        """Connect and wait (at most ``timeout``, default the client's) for
        the initial contents, driving the IDL in this thread."""
        import ovs.poller
        bound = self.timeout if timeout is None else timeout
        self.probe()
        deadline = time.monotonic() + bound
        while True:
            self.idl.run()
            if self.current():
                return
            left = deadline - time.monotonic()
            if left <= 0:
                raise hung(self.remote, self.timeout)
            poller = ovs.poller.Poller()
            self.idl.wait(poller)
            poller.timer_wait(max(1, int(left * 1000)))
            poller.block()

    def start(self) -> None:
        """ovsdbapp's connection thread (after sync(): no wait in it)."""
        self.connection.start()

    def close(self) -> None:
        if self.threaded:
            self.connection.stop(timeout=self.timeout)
        else:
            self.idl.close()

    # -- reads: the IDL in memory -----------------------------------------------------
    def read(self, what: Callable, timeout: float | None = None):
        """``what(tables)`` on the replica, under ovsdbapp's lock when its
        thread runs (bounded: a transaction may hold it)."""
        if not self.threaded:
            return what(self.idl.tables)
        if not self.connection.lock.acquire(timeout=self.timeout if timeout is None else timeout):
            raise hung(self.remote, self.timeout)
        try:
            return what(self.idl.tables)
        finally:
            self.connection.lock.release()

    def wait(self, check: Callable, seconds: float):
        """Re-run ``check(tables)`` as the replica changes until it returns
        None or ``seconds`` pass; returns its last answer."""
        import ovs.poller
        end = time.monotonic() + seconds
        while True:
            problem = self.read(check)
            left = end - time.monotonic()
            if problem is None or left <= 0:
                return problem
            if self.threaded:
                if not self.current():
                    return problem
                with self.changed:
                    self.changed.wait(min(left, 0.2))
                continue
            self.idl.run()
            if not self.current():
                raise down(self.remote, "connection closed by ovsdb-server")
            poller = ovs.poller.Poller()
            self.idl.wait(poller)
            poller.timer_wait(max(1, int(min(left, 0.2) * 1000)))
            poller.block()

    # -- writes: one ovsdbapp transaction ---------------------------------------------
    def commit(self, commands: list) -> None:
        from ovsdbapp import exceptions
        if not self.threaded:
            self.start()
        try:
            with self.api.transaction(check_error=True, timeout=self.timeout) as txn:
                for command in commands:
                    txn.add(command)
        except exceptions.TimeoutException:
            raise hung(self.remote, self.timeout) from None
        except RuntimeError as e:
            if "timed out" in str(e):
                raise hung(self.remote, self.timeout) from None
            raise failed(self.remote, e) from None


class OvsDb:
    """The driver's OVSDB questions and writes on one remote, for one hook
    call: on the agent's current view (``client``), else on a Client of its
    own connected on first use. In a dry run reads happen and are
    recorded, writes are only recorded."""

    def __init__(self, remote: str, timeout: float, record=None, dry_run: bool = False,
                 client: Client | None = None):
        self.remote, self.timeout, self.dry_run = remote, timeout, dry_run
        self.record = record or (lambda action, write=False: None)
        self._shared = client
        self._own: Client | None = None
        self._own_tables: dict | None = None

    def __enter__(self) -> OvsDb:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._own is not None:
            self._own.close()
            self._own = None

    @property
    def resident(self) -> bool:
        return self._shared is not None

    def client(self, tables: dict | None = None) -> Client:
        """The agent's client, else this call's own, of at least ``tables``
        (None: all of SCHEMA), connected on first use."""
        if self._shared is not None:
            return self._shared
        if self._own is not None and not _covers(self._own_tables, tables):
            self.close()  # a later question needs more: one client of everything
            tables = None
        if self._own is None:
            own = Client(self.remote, self.timeout, tables)
            own.sync()
            self._own, self._own_tables = own, tables
        return self._own

    def read(self, what: Callable, action: str, tables: dict | None = None):
        self.record(f"read OVSDB {self.remote}: {action}" + (" (the agent's view)" if self.resident else ""))
        return self.client(tables).read(what)

    def write(self, commands: Callable, action: str) -> None:
        """``commands(api)`` in one transaction, or in a dry run only recorded."""
        self.record(f"write OVSDB {self.remote}: {action}", write=True)
        if self.dry_run:
            return
        client = self.client()
        client.commit(commands(client.api))

    # -- the driver's questions -------------------------------------------------
    def host_info(self, bridge: str) -> tuple[str | None, bool]:
        """(system-id, whether ``bridge`` exists)."""
        def answer(tables):
            rows = list(tables["Open_vSwitch"].rows.values())
            system_id = rows[0].external_ids.get("system-id") if rows else None
            return system_id, named(tables, "Bridge", bridge) is not None
        return self.read(answer, f"Open_vSwitch external_ids:system-id, Bridge {bridge}",
                         {"Open_vSwitch": ["external_ids"], "Bridge": ["name"]})

    def bridges_exist(self, names: list[str]) -> dict[str, bool]:
        return self.read(lambda tables: {n: named(tables, "Bridge", n) is not None for n in names},
                         f"Bridge {','.join(names)}", {"Bridge": ["name"]})

    def bridge_exists(self, bridge: str) -> bool:
        return self.bridges_exist([bridge])[bridge]

    def interfaces(self) -> list[dict]:
        """name and link_state ('up' or None) of every Interface (stats)."""
        need = {"Interface": ["name", "link_state"]}
        self.record(f"read OVSDB {self.remote}: Interface name,link_state of every row"
                    + (" (the agent's view)" if self.resident else ""))
        client = self.client(need)
        return client.read(lambda tables: interface_rows(tables, client.interfaces))

    def ovn_chassis(self) -> str | None:
        """The southbound remote ovn-controller uses on this host
        (Open_vSwitch external_ids:ovn-remote), None when the host is no
        OVN chassis."""
        def answer(tables):
            rows = list(tables["Open_vSwitch"].rows.values())
            return rows[0].external_ids.get("ovn-remote") if rows else None
        return self.read(answer, "Open_vSwitch external_ids:ovn-remote", {"Open_vSwitch": ["external_ids"]})

    def port_tag(self, dev: str) -> list[int]:
        def answer(tables):
            port = named(tables, "Port", dev)
            return sorted(port.tag) if port is not None else []
        return self.read(answer, f"Port {dev} tag", {"Port": ["name", "tag"]})

    def vnic_connection(self, vnic_id: str, vm_id: str | None) -> tuple[str | None, str]:
        """(None, what was found) when an Interface carries
        external_ids:iface-id=vnic_id (and vm-id, when both are known) and
        its Port is on a bridge, whatever libvirt named the device (tapX or
        vnetN); else (the problem, "")."""
        def answer(tables):
            ifaces = [i for i in tables["Interface"].rows.values()
                      if i.external_ids.get("iface-id") == vnic_id
                      and not (vm_id and i.external_ids.get("vm-id") not in (None, vm_id))]
            if not ifaces:
                return f"no interface in OVSDB has external_ids:iface-id={vnic_id}", ""
            for port, bridge in ports_on_bridges(tables, ifaces):
                iface = next(i for i in ifaces if i in port.interfaces)
                return None, f"interface {iface.name} (iface-id {vnic_id}) is a port of bridge {bridge.name}"
            names = ", ".join(sorted(i.name for i in ifaces))
            return f"interface {names} with iface-id {vnic_id} is on no bridge", ""
        return self.read(answer, f"Interface where external_ids:iface-id == {vnic_id}, its Port and Bridge")

    def remove_vnic_ports(self, vnic_id: str, dev: str, vm_id: str | None) -> list[str]:
        """Remove the port(s) of this vNIC that libvirt left behind: the
        Interface named ``dev`` or carrying external_ids:iface-id=vnic_id,
        if its iface-id is ours (and its vm-id, when both are known).
        Idempotent; returns what was (or in a dry run would be) removed."""
        def ours(tables):
            found = []
            for iface in tables["Interface"].rows.values():
                ids = iface.external_ids
                if iface.name != dev and ids.get("iface-id") != vnic_id:
                    continue
                if ids.get("iface-id") != vnic_id:
                    continue  # another vNIC's port with a colliding name: not ours
                if vm_id and ids.get("vm-id") and ids["vm-id"] != vm_id:
                    continue  # the same port id plugged for another VM
                found.append(iface)
            return [(port.name, bridge.name) for port, bridge in ports_on_bridges(tables, found)]
        found = self.read(ours, f"Interface where name == {dev} or external_ids:iface-id == {vnic_id}, "
                                "their Port and Bridge")
        if not found:
            return []
        removed = [f"port {port} from bridge {bridge}" for port, bridge in found]
        self.write(lambda api: [api.del_port(port, bridge=bridge, if_exists=True) for port, bridge in found],
                   "remove " + ", ".join(removed))
        return removed

    def wait_port(self, dev: str, bridge: str, vnic_id: str, wait: float) -> float | None:
        """Return None once ``dev`` is on ``bridge`` with iface-id
        ``vnic_id`` and a valid ofport and, on an OVN chassis (Open_vSwitch
        external_ids:ovn-remote set), once ovn-controller has installed the
        port's flows (Interface external_ids:ovn-installed="true");
        NotReady naming what is missing after
        ``wait`` seconds. On the agent's view that stops being current: the
        seconds left (the caller checks on a connection of its own)."""
        self.record(f"read OVSDB {self.remote}: Interface/Port {dev}, Bridge {bridge} until ready, at most "
                    f"{wait:g} s" + (" (the agent's view)" if self.resident else ""))
        client = self.client()
        end = time.monotonic() + wait
        problem = client.wait(lambda tables: port_problem(tables, dev, bridge, vnic_id)
                              or ovn_problem(tables, dev, bridge), wait)
        if problem is None:
            return None
        left = end - time.monotonic()
        if left > 0 and self.resident and not client.current():
            return left
        raise NotReady(f"port {dev} not connected after {wait:g} s: {problem}")


def _covers(have: dict | None, need: dict | None) -> bool:
    """Whether a client of ``have`` (None: everything) can answer ``need``."""
    if have is None:
        return True
    if need is None:
        return False
    return all(set(columns) <= set(have.get(table, ())) for table, columns in need.items())

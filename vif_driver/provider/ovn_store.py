"""The OVN northbound backend: all state in the NB database.

Why a mirror: the API's semantics (filters, sorting, pagination, IPAM,
every validation and error answer) live in the SQL of store.py and
ports.py.  Each worker process keeps an in-memory SQLite copy of the NB
rows it serves (ovn_mirror.py; ovn_mapping.py says how rows map), filled
from ovsdbapp's IDL as it applies changes, and runs the very same Tx code
on it; so the answers are those of the SQLite backend.  A write runs the request on the
mirror inside a transaction that is always rolled back: the rows it
touched (found by temp triggers) become one OVSDB transaction through
ovsdbapp, and the mirror then takes the change from the IDL like any other.

Several workers (processes, hosts) may serve one NB database:
- serialisation: every write verifies and bumps
  NB_Global external_ids ``vif_driver:generation``; a write computed on an
  older mirror gets TRY_AGAIN and the whole request body runs again on the
  caught-up mirror (bounded), the equivalent of SQLite's BEGIN IMMEDIATE;
- read your writes: every request first asks the server for the current
  generation (one small select on a connection of its own) and waits until
  its IDL has applied it, so a write answered by one worker is seen by the
  next request in any worker.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import tempfile
import threading
import time
from collections.abc import Iterator
from typing import Any, Callable, TypeVar

from . import ovn_mapping as m
from .errors import NeutronError
from .ovn_rpc import Rpc
from .store import Tx

log = logging.getLogger(__name__)
logging.getLogger("ovsdbapp").addHandler(logging.NullHandler())

T = TypeVar("T")
WRITE_ATTEMPTS = 20
GEN = m.P + "generation"
TABLES = ("NB_Global", "Logical_Switch", "Logical_Switch_Port", "DHCP_Options")


def unavailable(remote: str, why: str) -> NeutronError:
    return NeutronError(f"OVN northbound database {remote} unavailable: {why}; retry later",
                        status=503, type="ServiceUnavailable")


class _Stale(Exception):
    """The mirror the request ran on is older than the database."""


class _Job:
    """One request's write body in a worker's queue, and how it ended."""

    __slots__ = ("body", "done", "result", "error")

    def __init__(self, body: Callable[[Tx], Any]) -> None:
        self.body, self.done = body, False
        self.result: Any = None
        self.error: BaseException | None = None


class OvnStore:
    """The Store interface (read(), write(), transact()) on an OVN NB database.

    Made in the gunicorn arbiter; each worker opens its own connections on
    first use (an IDL thread does not survive a fork).  Nothing made here
    may block a worker: a lock made in the arbiter is a real OS lock (gevent
    patches the ``threading`` module in each worker only after the fork), so
    the worker's own locks are made in the worker (``_open_lock()``).
    """

    def __init__(self, remote: str, *, default_bridge: str = "br-int", timeout: float = 10.0,
                 ssl_key: str | None = None, ssl_cert: str | None = None,
                 ssl_ca: str | None = None) -> None:
        self.remote, self.default_bridge, self.timeout = remote, default_bridge, timeout
        self.ssl = (ssl_key, ssl_cert, ssl_ca)
        self._worker: Any = None
        self._pid = 0
        self._open_locks: dict[int, Any] = {}  # pid -> the lock around opening its _Worker
        # Workers forked from this process take a POSIX record lock on this
        # unlinked file around each write: writers on one host queue instead
        # of colliding (other hosts' providers still meet at the generation).
        self._write_lock = tempfile.TemporaryFile()
        Rpc(remote, timeout, self.ssl).close_after(lambda rpc: rpc.call("get_schema", ["OVN_Northbound"]))

    def _open_lock(self) -> Any:
        """This process's lock around opening its _Worker, made on first use.

        Why not one lock made in __init__: that runs in the arbiter, before
        gevent's monkey patching in the worker, so it would be a real OS
        lock.  Opening a _Worker waits for the server (the greenlet yields);
        a second request's greenlet arriving meanwhile blocked the whole
        process on that OS lock, the first greenlet never ran again, and the
        worker hung until gunicorn killed it (60 s): the "hang under 20
        concurrent writers" of issue 13, at a worker's first requests.  Made
        here, in the worker, ``threading.Lock`` is gevent's (a greenlet
        waits, the hub runs on) or a real one without gevent.
        """
        pid = os.getpid()
        lock = self._open_locks.get(pid)
        if lock is None:  # setdefault: two threads racing here get one lock
            lock = self._open_locks.setdefault(pid, threading.Lock())
        return lock

    def worker(self) -> Any:
        """This process's ovn_worker._Worker (connections, mirror, sync)."""
        if self._worker is not None and self._pid == os.getpid():
            return self._worker
        from .ovn_worker import _Worker  # it imports this module
        with self._open_lock():
            if self._worker is None or self._pid != os.getpid():
                self._worker, self._pid = _Worker(self), os.getpid()
            return self._worker

    def close(self) -> None:
        """Stop this process's connections (a worker's exit ends them too)."""
        w, self._worker = self._worker, None
        if w is not None and self._pid == os.getpid():
            w.close()

    @contextlib.contextmanager
    def _host_lock(self) -> Iterator[None]:
        fd = self._write_lock.fileno()
        deadline = time.monotonic() + self.timeout
        pause = 0.0002
        while True:
            try:
                fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise unavailable(self.remote, "another worker's write did not finish in time") from None
                time.sleep(pause)  # a worker's greenlets must not spin while another worker writes
                pause = min(pause * 2, 0.005)
        try:
            yield
        finally:
            fcntl.lockf(fd, fcntl.LOCK_UN)

    @contextlib.contextmanager
    def read(self) -> Iterator[Tx]:
        w = self.worker()
        with w.lock:
            w.catch_up()
            w.mirror.db.execute("BEGIN")
            try:
                yield w.mirror.tx(w.gen)
            finally:
                w.mirror.db.execute("ROLLBACK")

    def transact(self, body: Callable[[Tx], T]) -> T:
        """Run ``body`` in a write transaction, again if another writer
        came first; returns what the body returned.

        Group commit: the writers of a worker that queue while one writes
        go together next, each body in a savepoint of one mirror
        transaction, in queue order, as one OVSDB transaction (one
        generation step, one round trip, one update to apply). That is a
        serial order of the requests, and the generation verifies it as a
        whole: if it is stale, all bodies run again. A body's error stays
        its own (its savepoint is rolled back); it rests on the verified
        state when the batch commits, and is checked against the server
        when the batch writes nothing. A batch in which a port is on a
        network, or takes an address from a subnet, that another body of it
        creates goes one request per transaction instead
        (``refers_to_new_rows``).

        The bodies' changes to the mirror are kept when the OVSDB
        transaction commits (rolled back when it does not): the IDL's copy
        of the same rows then compares equal in sync(), so a write is not
        rendered twice."""
        w = self.worker()
        job = _Job(body)
        w.queue.append(job)
        with w.lock:  # whoever holds it writes for everyone queued
            if not job.done:
                jobs, w.queue[:] = list(w.queue), []
                try:
                    self._run(w, jobs)
                except BaseException as exc:
                    for j in jobs:
                        if not j.done:
                            j.done, j.error = True, exc
        if job.error is not None:
            raise job.error
        return job.result

    def _run(self, w: Any, jobs: list) -> None:
        split = False
        for attempt in range(WRITE_ATTEMPTS):
            with self._host_lock():
                # The first attempt trusts the IDL (the verified generation
                # catches a stale one); a retry asks the server first.
                if attempt:
                    w.catch_up()
                else:
                    w.refresh()
                gen = w.gen
                w.mirror.db.execute("BEGIN")
                try:
                    w.mirror.start_write()
                    tx = w.mirror.tx(gen)  # one for all: row ids go on
                    refused = False
                    for j in jobs:
                        w.mirror.db.execute("SAVEPOINT job")
                        try:
                            j.result, j.error = j.body(tx), None
                        except Exception as exc:  # the job's: raised in its own request
                            w.mirror.db.execute("ROLLBACK TO job")
                            j.result, j.error = None, exc
                            refused = True
                        w.mirror.db.execute("RELEASE job")
                    plan = w.mirror.plan(w.lsp_net)
                except BaseException:
                    w.mirror.db.execute("ROLLBACK")
                    raise
                if not any(plan.values()):
                    w.mirror.db.execute("ROLLBACK")
                    if refused and attempt == 0 and w.caught_up_changes():
                        continue  # the answers may rest on a stale IDL: ask again
                    break
                if len(jobs) > 1 and w.refers_to_new_rows(plan):
                    w.mirror.db.execute("ROLLBACK")
                    split = True
                    break
                if not self._commit(w, plan, gen):
                    continue
                w.sync()
                break
        else:
            raise unavailable(self.remote, f"{WRITE_ATTEMPTS} write attempts collided with other writers")
        if split:  # one request per transaction, in queue order
            for j in jobs:
                self._run(w, [j])
            return
        for j in jobs:
            j.done = True

    @staticmethod
    def _commit(w: Any, plan: dict, gen: int) -> bool:
        """The plan to OVSDB, inside the body's open mirror transaction:
        kept on success, rolled back otherwise; False when stale."""
        try:
            w.commit(plan, gen)
        except _Stale:
            w.mirror.db.execute("ROLLBACK")
            return False
        except BaseException:
            w.mirror.db.execute("ROLLBACK")
            raise
        w.mirror.db.execute("COMMIT")
        return True

    @contextlib.contextmanager
    def write(self) -> Iterator[Tx]:
        """For callers that cannot rerun: one attempt (transact() retries)."""
        w = self.worker()
        with w.lock, self._host_lock():
            w.catch_up()
            gen = w.gen
            w.mirror.db.execute("BEGIN")
            try:
                w.mirror.start_write()
                yield w.mirror.tx(gen)
                plan = w.mirror.plan(w.lsp_net)
            except BaseException:
                w.mirror.db.execute("ROLLBACK")
                raise
            if not self._commit(w, plan, gen):
                raise unavailable(self.remote, "another writer came first")
            w.sync()

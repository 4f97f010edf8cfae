"""The agent's resident OVSDB view: one ovsdb.Client per remote, kept current
by ovsdbapp's connection thread, so the driver's reads are memory reads.

A thread makes the first connection (retrying with backoff while Open
vSwitch is down); from then on ovsdbapp's thread keeps the IDL current and
the ovs library reconnects after an ovsdb-server restart (probing an idle
connection every ovsdb.PROBE_MS, so a hung server drops it within twice
that). The view is served only while the IDL is current (connected, with
the server's contents); requests made while the first connection is being
made wait for it (bounded by their timeout); otherwise the driver reads on
a connection of its own, with that path's errors. Views of remotes the
config no longer names are closed (Registry).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from typing import Callable

from vif_driver.drivers.ovs.ovsdb import ERRORS, Client

log = logging.getLogger(__name__)

BACKOFF = (0.2, 5.0)  # first and longest wait between first-connection attempts


class View:
    """The resident Client of ``remote``; start() it, close() it."""

    def __init__(self, remote: str, timeout: float):
        self.remote, self.timeout = remote, timeout
        self._cond = threading.Condition()
        self._client: Client | None = None  # set once ovsdbapp's thread runs
        self._starting = True  # the first connection attempt has not ended yet
        self._closed = False
        self._thread = threading.Thread(target=self._connect, name=f"ovsdb {remote}", daemon=True)

    def start(self) -> View:
        self._thread.start()
        return self

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            client, self._client = self._client, None
        self._thread.join(timeout=self.timeout + 1)
        if client is not None:
            client.close()

    def client(self, wait: float) -> Client | None:
        """The Client if its IDL is current, else None; while the first
        connection is still being made, wait for it at most ``wait`` s."""
        end = time.monotonic() + wait
        with self._cond:
            while self._client is None and self._starting and not self._closed:
                left = end - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            client = self._client
        return client if client is not None and client.current() else None

    def _connect(self) -> None:
        delay = BACKOFF[0]
        said = None  # the last failure logged: a repeat of it is only a debug line
        while True:
            with self._cond:
                if self._closed:
                    return
            client = Client(self.remote, self.timeout)
            try:
                client.sync()
                client.start()
            except Exception as e:  # noqa: BLE001 - OvsdbDown/Timeout, or a bug: never leave callers waiting
                client.close()
                level = logging.INFO if isinstance(e, ERRORS) else logging.WARNING
                if str(e) == said:
                    level = logging.DEBUG
                said = str(e)
                log.log(level, "OVSDB view of %s not connected: %s; retrying in %g s", self.remote, e, delay)
                with self._cond:
                    self._starting = False
                    self._cond.notify_all()
                    self._cond.wait(delay)
                delay = min(delay * 2, BACKOFF[1])
                continue
            with self._cond:
                if self._closed:
                    client.close()
                    return
                self._client, self._starting = client, False
                self._cond.notify_all()
            log.info("OVSDB view of %s: %d interfaces", self.remote,
                     client.read(lambda tables: len(tables["Interface"].rows)))
            return


class Registry:
    """Resident workers (views) made on first use, one per key (a remote);
    close() stops them all.

    The agent holds one config, so the key asked for last is the one in
    use; any other is closed once it has not been asked for within the
    ``retire`` seconds its last caller gave (the longest that caller may
    still use it: its deadline), so that a remote the config no longer
    names is not reconnected to forever. Past MAX keys (a config changed
    faster than that) the least recently asked for is closed at once: a
    call still using it reads on a connection of its own."""

    MAX = 4

    def __init__(self, make: Callable, what: str = "OVSDB view"):
        self._make = make  # make(*args) -> a started worker with close()
        self._what = what
        self._lock = threading.Lock()
        self._workers: OrderedDict = OrderedDict()  # key -> [worker, last asked (monotonic), retire]
        self._timer: threading.Timer | None = None

    def get(self, key, retire: float, *args):
        """The worker for ``key``, made from ``args`` the first time; kept
        at least ``retire`` seconds after this call."""
        with self._lock:
            entry = self._workers.get(key)
            now = time.monotonic()
            if entry is None:
                entry = self._workers[key] = [self._make(*args), now, retire]
            entry[1:] = [now, retire]
            self._workers.move_to_end(key)
            gone = [(k, f"the least recently asked for of over {self.MAX}") for k in list(self._workers)[:-self.MAX]]
            gone += self._stale(now)
            retired = [(k, self._workers.pop(k)[0], why) for k, why in gone]
            self._schedule(now)
        self._close(retired)
        return entry[0]

    def _stale(self, now: float) -> list:
        """(key, why) of each worker but the last asked for past its retire time."""
        last = next(reversed(self._workers), None)
        return [(k, f"not asked for in {now - at:.0f} s, {last} is") for k, (_, at, retire) in self._workers.items()
                if k != last and now - at >= retire]

    def _schedule(self, now: float) -> None:
        """A timer for the next retirement, when another worker than the
        last asked for exists (under the lock)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        last = next(reversed(self._workers), None)
        due = [at + retire for k, (_, at, retire) in self._workers.items() if k != last]
        if due:
            self._timer = threading.Timer(max(min(due) - now, 0) + 0.05, self._reap)
            self._timer.daemon = True
            self._timer.start()

    def _reap(self) -> None:
        with self._lock:
            now = time.monotonic()
            retired = [(k, self._workers.pop(k)[0], why) for k, why in self._stale(now)]
            self._schedule(now)
        self._close(retired)

    def _close(self, retired: list) -> None:
        """Close retired workers on a thread: a close may wait for a hung
        server (bounded), and a request must not."""
        for key, _worker, why in retired:
            log.info("%s of %s closed: %s", self._what, key, why)
        if retired:
            threading.Thread(target=lambda: [w.close() for _, w, _ in retired],
                             name=f"close {self._what}", daemon=True).start()

    def close(self) -> None:
        with self._lock:
            workers = [entry[0] for entry in self._workers.values()]
            self._workers.clear()
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
        for worker in workers:
            worker.close()

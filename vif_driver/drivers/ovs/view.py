"""The agent's resident OVSDB view: one ovsdb.Client per remote, kept current
by ovsdbapp's connection thread, so the driver's reads are memory reads.

A thread makes the first connection (retrying with backoff while Open
vSwitch is down); from then on ovsdbapp's thread keeps the IDL current and
the ovs library reconnects after an ovsdb-server restart (probing an idle
connection every ovsdb.PROBE_MS, so a hung server drops it within twice
that). The view is served only while the IDL is current (connected, with
the server's contents); requests made while the first connection is being
made wait for it (bounded by their timeout); otherwise the driver reads on
a connection of its own, with that path's errors.
"""

from __future__ import annotations

import logging
import threading
import time
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
    """Resident workers (views) made on first use, one per key, at most
    MAX of them; close() stops them all."""

    MAX = 4

    def __init__(self, make: Callable):
        self._make = make  # make(*args) -> a started worker with close()
        self._lock = threading.Lock()
        self._workers: dict = {}

    def get(self, key, *args):
        """The worker for ``key``, made from ``args`` the first time; None
        once MAX workers exist."""
        with self._lock:
            worker = self._workers.get(key)
            if worker is None and len(self._workers) < self.MAX:
                worker = self._workers[key] = self._make(*args)
            return worker

    def close(self) -> None:
        with self._lock:
            workers, self._workers = list(self._workers.values()), {}
        for worker in workers:
            worker.close()

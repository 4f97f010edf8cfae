"""The resident agent's live view of OVSDB: one connection per remote with a
monitor of the few columns the post-plug check and stats need, kept current
by a background thread, so those calls answer from memory.

Only the agent uses it (the driver runs ``resident``); a hook process pays
per call for what it reads (wire.py, monitor.py). A full monitor of a few
columns suits a process that lives for weeks: ~1,000 rows once, then only
changes. The view is used only while it is known to be current: the thread
probes an idle connection with ``echo`` every PROBE seconds, and a caller
gets None (and does its one-shot read instead, with that path's errors)
unless ovsdb-server was heard from within FRESH seconds. A closed or hung
connection is dropped at once and reopened with backoff, so an ovsdb-server
restart costs the agent nothing but a few one-shot reads.
Standard library only.
"""

import codecs
import json
import logging
import threading
import time

from vif_driver.api import NotReady
from vif_driver.drivers.ovs import wire
from vif_driver.drivers.ovs.monitor import Rows

log = logging.getLogger(__name__)

MONITOR_ID = "vif-driver-live"
TABLES = {
    "Interface": ["name", "ofport", "external_ids", "error", "link_state"],
    "Port": ["name", "interfaces"],
    "Bridge": ["name", "ports"],
}
PROBE = 0.5  # seconds of silence before the thread sends an echo
FRESH = 1.5  # the view is served only if ovsdb-server spoke this recently
BACKOFF = (0.2, 5.0)  # first and longest wait between reconnects
_MAX_BUFFER = 64 << 20


class Live:
    """A monitored copy of TABLES at ``remote``; start() it, close() it."""

    def __init__(self, remote: str, timeout: float):
        self.remote, self.timeout = remote, timeout
        self._cond = threading.Condition()
        self._rows: "Rows | None" = None  # None while not connected and monitored
        self._heard = 0.0  # time.monotonic of the last message from ovsdb-server
        self._closed = False
        self._sock = None
        self._thread = threading.Thread(target=self._run, name=f"ovsdb {remote}", daemon=True)

    def start(self) -> "Live":
        self._thread.start()
        return self

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            sock = self._sock
        if sock is not None:
            try:
                sock.shutdown(2)
            except OSError:
                pass
        self._thread.join(timeout=self.timeout + 1)

    # -- what callers ask ---------------------------------------------------------
    def _current(self) -> "Rows | None":
        """The rows, if connected and heard from recently (hold the lock)."""
        if self._rows is None or time.monotonic() - self._heard > FRESH:
            return None
        return self._rows

    def interfaces(self) -> "list[dict] | None":
        """name and link_state ('up' or None) of every Interface, or None
        when the view is not current."""
        with self._cond:
            rows = self._current()
            if rows is None:
                return None
            found = list(rows.tables["Interface"].values())
        return [{"name": row.get("name"), "link_state": "up" if "up" in row.get("link_state", ()) else None}
                for row in found]

    def wait_port(self, dev: str, bridge: str, vnic_id: str, wait: float) -> "float | None":
        """Return 0 once ``dev`` is connected as monitor.wait_port defines
        it; NotReady with the same words after ``wait`` seconds; or, when the
        view stops being current, the seconds of ``wait`` left for the
        caller's own (one-shot) check."""
        end = time.monotonic() + wait
        with self._cond:
            while True:
                rows = self._current()
                left = end - time.monotonic()
                if rows is None:
                    return max(left, 0.0)
                problem = rows.problem(dev, bridge, vnic_id)
                if problem is None:
                    if rows.on_bridge(bridge):
                        return 0.0
                    problem = f"port {dev} is not on bridge {bridge}"
                if left <= 0:
                    raise NotReady(f"port {dev} not connected after {wait:g} s: {problem}")
                self._cond.wait(min(left, PROBE))

    # -- the connection thread ----------------------------------------------------
    def _run(self) -> None:
        delay = BACKOFF[0]
        while True:
            with self._cond:
                if self._closed:
                    return
            try:
                self._session()
                delay = BACKOFF[0]
            except wire.OvsdbError as e:
                log.warning("%s; the agent reads OVSDB per call until it reconnects", e)
            except (wire.OvsdbDown, wire.OvsdbTimeout, OSError, ValueError) as e:
                log.info("live OVSDB view of %s lost: %s; reconnecting", self.remote, e)
            finally:
                with self._cond:
                    self._rows = None
                    sock, self._sock = self._sock, None
                    self._cond.notify_all()
                if sock is not None:
                    sock.close()
            with self._cond:
                if not self._closed:
                    self._cond.wait(delay)
            delay = min(delay * 2, BACKOFF[1])

    def _session(self) -> None:
        sock = wire._connect(self.remote, self.timeout)
        with self._cond:
            self._sock = sock
            if self._closed:
                return
        requests = {table: [{"columns": columns}] for table, columns in TABLES.items()}
        self._send(sock, {"method": "monitor_cond", "params": [wire.DB, MONITOR_ID, requests], "id": "monitor"})
        sent = time.monotonic()  # of the request not yet answered (monitor, then echo probes)
        decoder = json.JSONDecoder()
        utf8 = codecs.getincrementaldecoder("utf-8")()  # a chunk may end inside a character
        buf = ""
        while True:
            with self._cond:
                if self._closed:
                    return
            sock.settimeout(PROBE)
            try:
                chunk = sock.recv(1 << 20)
            except wire.TIMEOUTS:
                chunk = None
            now = time.monotonic()
            if chunk is None:
                if sent is not None and now - sent > self.timeout:
                    raise wire.hung(self.remote, self.timeout)
                if sent is None and now - self._heard >= PROBE:
                    self._send(sock, {"method": "echo", "params": [], "id": "echo"})
                    sent = now
                continue
            if not chunk:
                raise wire.down(self.remote, "connection closed by ovsdb-server")
            buf += utf8.decode(chunk)
            if len(buf) > _MAX_BUFFER:
                raise wire.failed(self.remote, f"message larger than {_MAX_BUFFER >> 20} MiB")
            while buf.rstrip().endswith("}"):
                text = buf.lstrip()
                try:
                    msg, end = decoder.raw_decode(text)
                except ValueError:
                    break  # incomplete: wait for more
                buf = text[end:]
                if self._handle(sock, msg):
                    sent = None

    def _handle(self, sock, msg: dict) -> bool:
        """Apply one message; True if it answers our outstanding request."""
        with self._cond:
            self._heard = time.monotonic()
            if msg.get("method") == "update2" and self._rows is not None:
                params = msg.get("params") or [None, None]
                if params[0] == MONITOR_ID:
                    self._rows.apply(params[1])
                self._cond.notify_all()
                return False
        if msg.get("method") == "echo":
            self._send(sock, {"id": msg.get("id"), "result": msg.get("params"), "error": None})
            return False
        if msg.get("id") == "monitor":
            if msg.get("error") is not None:
                raise wire.failed(self.remote, msg["error"])
            rows = Rows()
            rows.apply(msg.get("result"))
            with self._cond:
                self._rows = rows
                self._cond.notify_all()
            log.info("live OVSDB view of %s: %d interfaces", self.remote, len(rows.tables["Interface"]))
            return True
        return msg.get("id") == "echo"

    def _send(self, sock, msg: dict) -> None:
        sock.settimeout(self.timeout)
        sock.sendall(json.dumps(msg).encode("utf-8"))


class Registry:
    """Resident workers (live views, refreshers) made on first use, one per
    key, at most MAX of them; close() stops them all."""

    MAX = 4

    def __init__(self, make):
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

"""Snapshots of every link of a namespace, for caps and stats.

A snapshot is one pyroute2 link dump: names, masters, states, ifaliases and
the kernel's 64-bit counters of every device, read at one moment
(``taken``, what stats report as sampleTime). pyroute2 parses such a dump
in pure Python: ~0.3 s for 1,000 links, twenty times a hook's budget.

A hook process takes its snapshot when asked. The resident agent keeps one
per namespace fresh on a background thread of its own (own netlink
channel, so plugs never wait behind a dump): it dumps every REFRESH
seconds while caps or stats were asked for in the last IDLE seconds, and
a request served from it sees data at most MAX_AGE old — an older snapshot
(the first request, a refresher that fell behind) is retaken on the spot,
bounded by the timeout like every netlink call. Link events were
considered instead: pyroute2 0.9 turns an ENOBUFS of the event socket (a
burst of 1,000 new taps) into a permanent error, and a view that can miss
events is not one stats can trust.
"""

from __future__ import annotations

import logging
import threading
import time

from vif_driver.api import HostError
from vif_driver.drivers.linux_bridge import netlink

log = logging.getLogger(__name__)

REFRESH = 10.0  # seconds between background dumps
MAX_AGE = 15.0  # seconds; an older snapshot is retaken before it is used
IDLE = 600.0  # seconds without a caps or stats request before the refresher stops


class Snapshot:
    __slots__ = ("taken", "links", "memo")

    def __init__(self, taken: float, links: list[netlink.Link]):
        self.taken, self.links = taken, links
        self.memo: dict = {}  # what callers derive from it once (stats entries)


def _take(session: netlink.Session) -> Snapshot:
    links = session.links()
    return Snapshot(time.time(), links)


class _View:
    """The kept snapshot of one namespace and its refresher thread."""

    def __init__(self, namespace: str | None):
        self.channel = netlink.Channel(namespace)
        self.snapshot: Snapshot | None = None
        self._lock = threading.Lock()  # one dump at a time
        self._asked = 0.0
        self._timeout = 10.0
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.generation = 0  # bumped by invalidate(): a dump begun before is not kept

    def get(self, timeout: float) -> Snapshot:
        self._asked, self._timeout = time.monotonic(), timeout
        self._start()
        snap = self.snapshot
        if snap is not None and time.time() - snap.taken <= MAX_AGE:
            return snap
        deadline = time.monotonic() + timeout
        if not self._lock.acquire(timeout=timeout):  # another dump runs: it has the same bound
            raise HostError(f"the list of network devices was not read within {timeout:g} s; "
                            "check the host's load (RTNL lock) or raise timeout in [vif-driver]")
        try:
            snap = self.snapshot
            if snap is None or time.time() - snap.taken > MAX_AGE:
                snap = self._refresh(max(deadline - time.monotonic(), 0.1))
        finally:
            self._lock.release()
        return snap

    def _refresh(self, timeout: float) -> Snapshot:
        if self.channel.broken:
            self.channel = netlink.Channel(self.channel.namespace)
        generation = self.generation
        snap = self.channel.call(_take, timeout=timeout, action="list the network devices")
        if generation == self.generation:
            self.snapshot = snap
        return snap

    def _start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._loop, daemon=True,
                                            name=f"vif-driver-links@{self.channel.namespace or 'host'}")
            self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(REFRESH):
            if time.monotonic() - self._asked > IDLE:
                return  # nobody asks: no dumps on an idle agent
            try:
                with self._lock:
                    self._refresh(self._timeout)
            except Exception as e:  # noqa: BLE001 - the next request retakes it and reports
                log.debug("background link dump failed: %s", e)

    def close(self) -> None:
        self._stop.set()
        self.channel.close()


_views: dict[str | None, _View] = {}
_views_lock = threading.Lock()


def snapshot(namespace: str | None, timeout: float) -> Snapshot:
    """Every link of ``namespace``: kept fresh in the agent, taken now in a hook."""
    if not netlink.resident():
        return netlink.run(_take, namespace=namespace, timeout=timeout, action="list the network devices")
    with _views_lock:
        view = _views.get(namespace or None)
        if view is None:
            view = _views[namespace or None] = _View(namespace)
    return view.get(timeout)


def invalidate(namespace: str | None) -> None:
    """The driver changed links of ``namespace``: the next caps or stats
    request retakes the snapshot (changes by others wait for the refresh)."""
    view = _views.get(namespace or None)
    if view is not None:
        view.generation += 1
        view.snapshot = None


def close_all() -> None:
    with _views_lock:
        views = list(_views.values())
        _views.clear()
    for view in views:
        view.close()

"""Snapshots of every link of a namespace, for caps and stats.

A snapshot is one pyroute2 link dump: names, masters, states, ifaliases and
the kernel's 64-bit counters of every device, read at one moment
(``taken``, what stats report as sampleTime). pyroute2 parses such a dump
in pure Python: ~0.3 s for 1,000 links, twenty times a hook's budget.

A hook process takes its snapshot when asked. The resident agent keeps one
per namespace fresh (vif_driver.core.sampler) on a netlink channel of its
own, so plugs never wait behind a dump: re-dumped every REFRESH seconds
while caps or stats were asked for in the last IDLE seconds, at most
MAX_AGE old when used, bounded by the timeout like every netlink call. Link events were
considered instead: pyroute2 0.9 turns an ENOBUFS of the event socket (a
burst of 1,000 new taps) into a permanent error, and a view that can miss
events is not one stats can trust.
"""

from __future__ import annotations

import threading
import time

from vif_driver.api import HostError
from vif_driver.core import netlink
from vif_driver.core.sampler import Sample, Sampler

REFRESH = 10.0  # seconds between background dumps
MAX_AGE = 15.0  # seconds; an older snapshot is retaken before it is used
IDLE = 600.0  # seconds without a caps or stats request before the refresher stops

Snapshot = Sample  # .value: the links; .taken: when they were read; .memo


def _take(session: netlink.Session) -> list[netlink.Link]:
    return session.links()


class _View:
    """The kept snapshot of one namespace: its own netlink channel (plugs
    never wait behind a dump) and a Sampler refreshing it."""

    def __init__(self, namespace: str | None):
        self.channel = netlink.Channel(namespace)
        self.sampler: Sampler[list[netlink.Link]] = Sampler(
            self._read, name=f"links@{namespace or 'host'}", refresh=REFRESH, max_age=MAX_AGE, idle=IDLE)

    def _read(self, timeout: float) -> list[netlink.Link]:
        if self.channel.broken:
            self.channel = netlink.Channel(self.channel.namespace)
        return self.channel.call(_take, timeout=timeout, action="list the network devices")

    def get(self, timeout: float) -> Sample[list[netlink.Link]]:
        try:
            return self.sampler.get(timeout)
        except TimeoutError:  # another dump runs: it has the same bound
            raise HostError(f"the list of network devices was not read within {timeout:g} s; "
                            "check the host's load (RTNL lock) or raise timeout in [vif-driver]") from None

    def close(self) -> None:
        self.sampler.close()
        self.channel.close()


_views: dict[str | None, _View] = {}
_views_lock = threading.Lock()


def snapshot(namespace: str | None, timeout: float) -> Sample[list[netlink.Link]]:
    """Every link of ``namespace``: kept fresh in the agent, taken now in a hook."""
    if not netlink.resident():
        taken = time.time()
        links = netlink.run(_take, namespace=namespace, timeout=timeout, action="list the network devices")
        return Sample(taken, links)
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
        view.sampler.invalidate()


def close_all() -> None:
    with _views_lock:
        views = list(_views.values())
        _views.clear()
    for view in views:
        view.close()

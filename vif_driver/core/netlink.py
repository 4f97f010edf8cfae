"""vif-driver's one netlink stack: pyroute2, for reads and writes alike
(the Linux bridge driver's host changes, the network-setup checks).

pyroute2's synchronous API has no per-call timeout, and its IPRoute belongs
to the thread that made it (pyroute2 >= 0.9 keeps the socket and event loop
per thread). So each IPRoute lives on a worker thread of its own (a
Channel) and every job — a few reads, or a batch of changes — is handed to
that thread while the caller waits with a deadline: a hung netlink call
fails the hook with one line instead of blocking VDSM forever, and the
socket of a hung job is closed so it can change nothing after its caller
gave up (and released its per-bridge lock).

A hook process opens one channel per job and closes it after. The resident
agent (``keep_open``) keeps one channel per network namespace open across
requests: no import, socket or thread set-up per request.

Every failure is one HostError line naming the device or step and the fix.
"""

from __future__ import annotations

import logging
import queue
import threading
from typing import Any, Callable

from vif_driver.api import HostError
from vif_driver.core.netns import call_in

log = logging.getLogger(__name__)

EPERM, EEXIST, ENODEV, ERANGE, EINVAL, EOPNOTSUPP = 1, 17, 19, 34, 22, 95
IFF_UP = 0x1
COUNTERS = ("rx_bytes", "tx_bytes", "rx_errors", "tx_errors", "rx_dropped", "tx_dropped")


class NetlinkFailure(Exception):
    def __init__(self, code: int, what: str, text: str):
        super().__init__(f"{what}: {text}")
        self.code, self.what, self.text = code, what, text


class Link:
    """What the driver needs to know about one network device."""

    __slots__ = ("index", "name", "flags", "mtu", "master", "link", "operstate", "alias",
                 "kind", "vlan_id", "stats")

    def __init__(self, msg):
        get = msg.get_attr
        self.index, self.flags = msg["index"], msg["flags"]
        self.name, self.mtu, self.alias = get("IFLA_IFNAME"), get("IFLA_MTU"), get("IFLA_IFALIAS")
        self.master, self.link = get("IFLA_MASTER") or 0, get("IFLA_LINK")
        self.operstate = get("IFLA_OPERSTATE") or "UNKNOWN"
        stats = get("IFLA_STATS64")
        self.stats = tuple(stats[name] for name in COUNTERS) if stats is not None else None  # as COUNTERS
        self.kind = self.vlan_id = None
        info = get("IFLA_LINKINFO")
        if info is not None:
            self.kind = info.get_attr("IFLA_INFO_KIND")
            data = info.get_attr("IFLA_INFO_DATA") if self.kind in ("vlan", "vxlan") else None
            if data is not None and self.kind == "vlan":
                self.vlan_id = data.get_attr("IFLA_VLAN_ID")
            elif data is not None:
                self.vlan_id, self.link = data.get_attr("IFLA_VXLAN_ID"), data.get_attr("IFLA_VXLAN_LINK")

    @property
    def up(self) -> bool:
        return bool(self.flags & IFF_UP)

    @property
    def running(self) -> bool:
        """Operationally up, as VDSM reports a device's state."""
        return self.operstate == "UP" or (self.operstate == "UNKNOWN" and self.up)

    def __repr__(self) -> str:
        return f"Link({self.name!r}, index={self.index}, kind={self.kind!r}, master={self.master})"


class Session:
    """The pyroute2 calls the driver makes, on a channel's thread; each
    names what it does so a failure message can say which step failed."""

    def __init__(self, ipr):
        self._ipr = ipr

    def _call(self, what: str, *args, **kwargs):
        from pyroute2.netlink.exceptions import NetlinkError
        try:
            return self._ipr.link(*args, **kwargs)
        except NetlinkError as e:
            raise NetlinkFailure(e.code, what, _strerror(e.code)) from None

    # -- reads ----------------------------------------------------------------

    def get(self, name: str | None = None, index: int = 0) -> Link | None:
        """The link called ``name`` (or with ``index``), or None if there is none."""
        if not name and not index:
            return None
        spec: dict[str, str | int] = {"ifname": name} if name else {"index": index}
        try:
            found = self._call(f"read {name or f'device {index}'}", "get", **spec)
        except NetlinkFailure as e:
            if e.code == ENODEV:
                return None
            raise
        return Link(found[0]) if found else None

    def links(self, **filters) -> list[Link]:
        """Every link of the namespace (pyroute2 filters, e.g. master=, apply)."""
        return [Link(msg) for msg in self._call("list the network devices", "dump", **filters)]

    # -- writes ---------------------------------------------------------------

    def add_bridge(self, name: str, mtu, alias: str) -> bool:
        """Create and mark a bridge; False if it appeared meanwhile (made by
        someone else: not ours to mark or remove)."""
        if not self._add(f"create bridge {name}", ifname=name, kind="bridge", **_mtu(mtu)):
            return False
        self.set(name, f"mark bridge {name}", ifalias=alias)
        return True

    def add_uplink(self, kind: str, name: str, parent: int, segment: int, mtu, alias: str) -> bool:
        if kind == "vxlan":
            spec = {"kind": "vxlan", "vxlan_id": segment, "vxlan_link": parent, "vxlan_port": 4789}
        else:
            spec = {"kind": "vlan", "link": parent, "vlan_id": segment}
        if not self._add(f"create {kind} {name}", ifname=name, **spec, **_mtu(mtu)):
            return False
        self.set(name, f"mark {kind} {name}", ifalias=alias)
        return True

    def _add(self, what: str, **spec) -> bool:
        try:
            self._call(what, "add", **spec)
            return True
        except NetlinkFailure as e:
            if e.code == EEXIST and self.index(spec["ifname"], missing_ok=True) is not None:
                return False
            raise

    def set(self, name: str, what: str, **changes) -> None:
        """``master`` may be given by name; 0 detaches."""
        if isinstance(changes.get("master"), str):
            changes["master"] = self.index(changes["master"])
        self._call(what, "set", index=self.index(name), **changes)

    def delete(self, name: str) -> None:
        index = self.index(name, missing_ok=True)
        if index is not None:
            try:
                self._call(f"delete {name}", "del", index=index)
            except NetlinkFailure as e:
                if e.code != ENODEV:  # a concurrent run removed it first
                    raise

    def addresses(self) -> dict[str, int]:
        """address -> index of the device holding it (IPv4 and IPv6)."""
        from pyroute2.netlink.exceptions import NetlinkError
        try:
            found = self._ipr.get_addr()
        except NetlinkError as e:
            raise NetlinkFailure(e.code, "list the addresses", _strerror(e.code)) from None
        held = {}
        for msg in found:
            address = msg.get_attr("IFA_LOCAL") or msg.get_attr("IFA_ADDRESS")
            if isinstance(address, str):
                held[address] = msg["index"]
        return held

    def index(self, name: str, missing_ok: bool = False) -> int | None:
        link = self.get(name)
        if link is None:
            if missing_ok:
                return None
            raise NetlinkFailure(ENODEV, f"find {name}", "no such device")
        return link.index


class _Job:
    __slots__ = ("work", "done", "result", "error")

    def __init__(self, work):
        self.work, self.done = work, threading.Event()
        self.result = self.error = None


class Channel:
    """One pyroute2 IPRoute in one network namespace, owned by a worker
    thread that runs the jobs handed to it, one at a time."""

    def __init__(self, namespace: str | None):
        self.namespace = namespace or None
        self.broken = False  # a job timed out: this channel takes no more
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._ipr = None
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def call(self, work: Callable[[Session], Any], *, timeout: float, action: str) -> Any:
        """``work(Session)`` on the channel's thread, waited for at most
        ``timeout`` seconds; ``action`` names the whole job for messages."""
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._serve, daemon=True,
                                                name=f"vif-driver-netlink@{self.namespace or 'host'}")
                self._thread.start()
        job = _Job(work)
        self._jobs.put(job)
        if not job.done.wait(timeout):
            self.broken = True
            self._abort()
            raise HostError(f"netlink did not answer within {timeout:g} s while trying to {action}; "
                            f"check the host's load (RTNL lock) or raise timeout in [vif-driver]")
        error = job.error
        if error is None:
            return job.result
        if isinstance(error, NetlinkFailure):
            raise HostError(explain(error, action)) from None
        if isinstance(error, OSError):
            raise HostError(f"netlink failed while trying to {action}: {error.strerror or error}; "
                            "run the hooks through the vif-driver agent or as root") from None
        raise error

    def close(self) -> None:
        """Let the thread close the socket and end (pyroute2's per-thread
        state is released by the thread that made it)."""
        if self._thread is not None:
            self._jobs.put(None)

    def _serve(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None or self.broken:
                if job is not None:
                    job.error = OSError("netlink channel closed after a timeout")
                    job.done.set()
                    continue
                break
            try:
                if self._ipr is None:
                    from pyroute2 import IPRoute
                    self._ipr = call_in(self.namespace, IPRoute)
                job.result = job.work(Session(self._ipr))
            except BaseException as e:  # noqa: BLE001 - handed to the waiting thread
                job.error = e
            job.done.set()
        if self._ipr is not None:
            try:
                self._ipr.close()
            except Exception:  # noqa: BLE001 - closing is best effort
                log.debug("closing a netlink socket failed", exc_info=True)

    def _abort(self) -> None:
        # Stop the hung job before the caller releases its per-bridge lock:
        # a closed socket fails the worker's next netlink call.
        self._jobs.put(None)
        ipr = self._ipr
        if ipr is not None:
            try:
                ipr.close()
            except Exception:  # noqa: BLE001 - the timeout is what we report
                pass


_resident: dict[str | None, Channel] | None = None  # namespace -> Channel, in the agent
_resident_lock = threading.Lock()


def keep_open() -> None:
    """The driver runs resident: keep one channel per namespace open."""
    global _resident
    with _resident_lock:
        if _resident is None:
            _resident = {}


def resident() -> bool:
    return _resident is not None


def close_all() -> None:
    global _resident
    with _resident_lock:
        channels, _resident = list((_resident or {}).values()), None
    for channel in channels:
        channel.close()


def run(work: Callable[[Session], Any], *, namespace: str | None, timeout: float, action: str) -> Any:
    """``work(Session)`` in ``namespace``, bounded by ``timeout``; see Channel.call."""
    if _resident is None:
        channel = Channel(namespace)
        try:
            return channel.call(work, timeout=timeout, action=action)
        finally:
            channel.close()
    with _resident_lock:
        kept = _resident.get(namespace or None)
        if kept is None or kept.broken:
            kept = _resident[namespace or None] = Channel(namespace)
    return kept.call(work, timeout=timeout, action=action)


def explain(failure: NetlinkFailure, action: str) -> str:
    if failure.code == EPERM:
        return (f"netlink refused to {failure.what} (operation not permitted): CAP_NET_ADMIN needed; "
                "run the hooks through the vif-driver agent or as root")
    if failure.code == EOPNOTSUPP:
        return (f"the kernel cannot {failure.what} (operation not supported); load its module "
                f"(8021q for VLANs, bridge for bridges)")
    if failure.code in (ERANGE, EINVAL) and "mtu" in failure.what:
        return f"cannot {failure.what} ({failure.text}); the MTU must fit the host interface's MTU"
    return f"cannot {failure.what} while trying to {action}: {failure.text}"


def _mtu(mtu) -> dict:
    return {"mtu": mtu} if mtu else {}


def _strerror(code: int) -> str:
    import os
    try:
        return os.strerror(abs(int(code))).lower()
    except (TypeError, ValueError):
        return f"error {code}"

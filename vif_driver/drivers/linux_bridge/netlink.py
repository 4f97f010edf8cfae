"""Host changes through pyroute2, imported only when something must change.

pyroute2's synchronous API has no per-call timeout, so every batch of
changes runs in a worker thread the caller waits for with a deadline; a
hung netlink call then fails the hook instead of blocking VDSM forever.
"""

import threading

from vif_driver.api import HostError
from vif_driver.core.netns import netns

EPERM, EEXIST, ENODEV, ERANGE, EINVAL, EOPNOTSUPP = 1, 17, 19, 34, 22, 95


class NetlinkFailure(Exception):
    def __init__(self, code: int, what: str, text: str):
        super().__init__(f"{what}: {text}")
        self.code, self.what, self.text = code, what, text


class Session:
    """The pyroute2 calls the driver makes; each names what it does so a
    failure message can say which step failed."""

    def __init__(self, ipr):
        self._ipr = ipr

    def _call(self, what: str, *args, **kwargs):
        from pyroute2.netlink.exceptions import NetlinkError
        try:
            return self._ipr.link(*args, **kwargs)
        except NetlinkError as e:
            raise NetlinkFailure(e.code, what, _strerror(e.code)) from None

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

    def index(self, name: str, missing_ok: bool = False):
        found = self._ipr.link_lookup(ifname=name)
        if not found:
            if missing_ok:
                return None
            raise NetlinkFailure(ENODEV, f"find {name}", "no such device")
        return found[0]


def run(work, *, namespace: "str | None", timeout: float, action: str):
    """Run ``work(Session)`` in a worker thread inside ``namespace`` and
    wait at most ``timeout`` seconds. NetlinkFailure becomes a HostError
    with the fix; ``action`` names the whole job for messages."""
    outcome: dict = {}

    def worker():
        try:
            with netns(namespace):
                from pyroute2 import IPRoute
                ipr = outcome["socket"] = IPRoute()
            try:
                outcome["result"] = work(Session(ipr))
            finally:
                ipr.close()
        except BaseException as e:  # noqa: BLE001 - handed to the waiting thread
            outcome["error"] = e

    thread = threading.Thread(target=worker, name="vif-driver-netlink", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        # Stop the work before the caller releases its per-bridge lock:
        # closing the socket fails the worker's pending netlink call.
        ipr = outcome.get("socket")
        if ipr is not None:
            try:
                ipr.close()
            except Exception:  # noqa: BLE001 - the timeout is what we report
                pass
        thread.join(min(timeout, 2.0))
        raise HostError(f"netlink did not answer within {timeout:g} s while trying to {action}; "
                        f"check the host's load (rtnl lock) or raise timeout in [vif-driver]")
    error = outcome.get("error")
    if error is None:
        return outcome.get("result")
    if isinstance(error, NetlinkFailure):
        raise HostError(explain(error, action)) from None
    raise error


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

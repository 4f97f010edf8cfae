"""Host state of one network: check it cheaply, build what is missing,
remove what the driver built once nothing uses it.

Concurrency: VDSM runs hooks of different VMs at once, so every change to a
network's bridge happens under an exclusive flock on a per-bridge lock file.
Between a plug (before the guest starts) and libvirt attaching the tap there
is a window where the bridge has no port for the new vNIC; a *claim* file
per vNIC bridges it, so a concurrent last unplug does not remove the bridge
under a VM that is starting. Claims go away when the post-plug check sees
the tap attached or when the vNIC is unplugged; stale ones expire.
"""

from __future__ import annotations

import os
import time

from vif_driver.api import HostError, NotReady
from vif_driver.core import netlink
from vif_driver.core.netns import netns
from vif_driver.drivers.linux_bridge import locks, naming, view

CLAIM_TTL = 3600.0  # seconds; a claim older than this no longer keeps a bridge alive
_POLL = 0.05
VERIFIED_TTL = 10.0  # seconds a whole check of a network stands in for the next ones (agent only)

# The resident agent: (namespace, bridge) -> (bridge index, VLAN device index,
# mtu checked, when) of networks a whole check (three pyroute2 reads, ~1 ms
# each: over a plug's budget) found complete. Within VERIFIED_TTL a plug only
# checks that the bridge and the VLAN device still exist with the same
# indexes (the host interface too, or the kernel would have removed the VLAN
# device). The driver's own changes drop the entry. What indexes cannot show
# (someone else setting the bridge down, detaching the VLAN device, changing
# an MTU) waits at most VERIFIED_TTL for the next whole check.
_verified: dict = {}


class Network:
    """One Target in one namespace, with its lock and claims."""

    def __init__(self, target: naming.Target, *, namespace: str | None, lock_dir: str,
                 timeout: float, record, dry_run: bool = False):
        self.target = target
        self.namespace = namespace or None
        self.lock_dir = lock_dir
        self.timeout = timeout
        self.record = record
        self.dry_run = dry_run
        key = target.bridge + (f"@{namespace}" if namespace else "")
        self._lock_path = os.path.join(lock_dir, key + ".lock")
        self._claim_prefix = key + ".claim."
        self._lock_fd: int | None = None

    # -- locking and claims -------------------------------------------------

    def __enter__(self) -> Network:
        self._lock_fd = locks.acquire(self.lock_dir, self._lock_path, self.timeout, f"bridge {self.target.bridge}")
        return self

    def __exit__(self, *exc) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing releases the flock
            self._lock_fd = None

    def _claim_path(self, vnic_id: str) -> str:
        return os.path.join(self.lock_dir, self._claim_prefix + vnic_id)

    def claim(self, vnic_id: str, made_by: str, left: str | None = None) -> bool:
        """Claim the network for ``vnic_id``; True when this call made the
        claim. Idempotent: one claim per vNIC and network, whatever the
        number of calls; a repeat only renews it and keeps who made it
        (``made_by``, the hook point, is the file's first word; ``left``,
        the bridge a network change moves the vNIC away from, the second)."""
        if self.dry_run:
            return False
        path = self._claim_path(vnic_id)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
        except FileExistsError:
            os.utime(path)
            return False
        try:
            os.write(fd, " ".join(filter(None, (made_by, left))).encode("ascii", "replace"))
        finally:
            os.close(fd)
        return True

    def claim_of(self, vnic_id: str) -> list[str]:
        """The words of the vNIC's claim (made_by, left bridge), [] without one."""
        try:
            with open(self._claim_path(vnic_id), "rb") as f:
                return f.read(64).decode("ascii", "replace").split()
        except FileNotFoundError:
            return []

    def release(self, vnic_id: str, made_by: str | None = None) -> bool:
        """Drop the vNIC's claim (only if ``made_by`` made it, when given);
        True when a claim was dropped."""
        if self.dry_run:
            return False
        if made_by is not None and self.claim_of(vnic_id)[:1] != [made_by]:
            return False
        try:
            os.unlink(self._claim_path(vnic_id))
        except FileNotFoundError:
            return False
        return True

    def live_claims(self) -> list[str]:
        now = time.time()
        found = []
        for name in os.listdir(self.lock_dir):
            if name.startswith(self._claim_prefix):
                try:
                    if now - os.stat(os.path.join(self.lock_dir, name)).st_mtime < CLAIM_TTL:
                        found.append(name[len(self._claim_prefix):])
                except FileNotFoundError:
                    pass
        return found

    def read(self, work, action: str):
        """``work(netlink.Session)``: reads, bounded by the timeout."""
        return netlink.run(work, namespace=self.namespace, timeout=self.timeout, action=action)

    def _write(self, work, action: str) -> None:
        try:
            netlink.run(work, namespace=self.namespace, timeout=self.timeout, action=action)
        finally:
            view.invalidate(self.namespace)  # caps and stats see what this driver changed

    # -- plug ---------------------------------------------------------------

    def ensure(self) -> None:
        """Make the bridge (and for a provider network its VLAN) exist, be
        up and joined. Call under the lock. Cheap when all is in place."""
        t = self.target
        key = (self.namespace, t.bridge)
        if t.managed and self._still_whole(key):
            self.record(f"checked {t.describe()}: present and up (unchanged since the last whole check)")
            return

        def current(nl: netlink.Session):
            bridge = nl.get(t.bridge)
            if not t.managed:
                return bridge, None, None, None
            parent, uplink = nl.get(t.interface), nl.get(t.uplink)
            master = nl.get(index=uplink.master) if uplink and uplink.master and (
                not bridge or uplink.master != bridge.index) else None
            return bridge, parent, uplink, master
        bridge, parent, uplink, master = self.read(current, f"check {t.describe()}")
        if not t.managed:
            _check_admin_bridge(t, bridge)
            self.record(f"checked {t.describe()}: present and up")
            return
        steps = _plan(t, parent, uplink, bridge, master)
        if not steps:
            if netlink.resident():
                _verified[key] = (bridge.index, uplink.index, t.mtu, time.monotonic())
            self.record(f"checked {t.describe()}: present and up")
            return
        for step in steps:
            self.record(step[0], write=True)
        if self.dry_run:
            return
        created: list[str] = []

        def work(session):
            try:
                for _text, func, args, kwargs in steps:
                    made = getattr(session, func)(*args, **kwargs)
                    if made is True:  # add_bridge / add_uplink created it
                        created.append(args[0] if func == "add_bridge" else args[1])
            except BaseException:
                for name in reversed(created):  # leave nothing half-created
                    try:
                        session.delete(name)
                    except Exception:  # noqa: BLE001 - the original error matters more
                        pass
                raise
        self._write(work, f"prepare {t.describe()}")

    def _still_whole(self, key) -> bool:
        """True when a whole check found this network complete less than
        VERIFIED_TTL ago and its bridge and VLAN device still have the
        indexes they had (two if_nametoindex calls, no netlink parsing: a
        deleted or re-made device has none or another). Any doubt: False,
        and the whole check runs."""
        known = _verified.get(key)
        if known is None:
            return False
        bridge_index, uplink_index, mtu, when = known
        if time.monotonic() - when > VERIFIED_TTL or mtu != self.target.mtu:
            _verified.pop(key, None)
            return False
        import socket
        try:
            with netns(self.namespace):
                same = (socket.if_nametoindex(self.target.bridge) == bridge_index
                        and socket.if_nametoindex(self.target.uplink or "") == uplink_index)
        except (OSError, HostError):
            same = False
        if not same:
            _verified.pop(key, None)
        return same

    # -- post-plug ----------------------------------------------------------

    def wait_port(self, tap: str, timeout: float) -> None:
        """Wait until ``tap`` is an up port of the bridge; NotReady names
        what is missing."""
        deadline = time.monotonic() + timeout
        bridge_name = self.target.bridge

        def problem_of(nl: netlink.Session):
            return _port_problem(bridge_name, tap, nl.get(bridge_name), nl.get(tap), nl)
        while True:
            problem = self.read(problem_of, f"check tap {tap} on bridge {bridge_name}")
            if problem is None:
                self.record(f"checked tap {tap}: up, port of bridge {bridge_name}")
                return
            if time.monotonic() >= deadline:
                raise NotReady(f"{problem} after {timeout:g} s; libvirt did not connect the vNIC "
                               f"(check the VM's libvirt log and that the bridge exists)")
            time.sleep(_POLL)

    def check_attached(self, tap: str) -> None:
        """A running vNIC whose operation failed: its tap must still be an
        up port of a bridge (this one, or the one a failed network change
        left it on); NotReady names what is wrong. One read, no wait."""

        def current(nl: netlink.Session):
            port = nl.get(tap)
            return port, nl.get(index=port.master) if port is not None and port.master else None
        port, master = self.read(current, f"check tap {tap}")
        if port is None or master is None or master.kind != "bridge" or not port.up:
            why = ("does not exist" if port is None else "is not attached to a bridge" if master is None
                   or master.kind != "bridge" else "is down")
            raise NotReady(f"tap {tap} of the running VM {why} (expected on bridge {self.target.bridge}); "
                           "check the VM's libvirt log")
        self.record(f"checked tap {tap}: up, port of bridge {master.name}")

    def bridge_of(self, tap: str) -> str | None:
        """The bridge ``tap`` is a port of now, if any."""
        def current(nl: netlink.Session):
            port = nl.get(tap)
            master = nl.get(index=port.master) if port is not None and port.master else None
            return master.name if master is not None and master.kind == "bridge" else None
        return self.read(current, f"check tap {tap}")

    # -- unplug -------------------------------------------------------------

    def cleanup(self, tap: str | None) -> None:
        """Detach a tap libvirt left on the bridge, then remove the bridge and
        VLAN if this driver created them and no port or claim remains.
        Call under the lock."""
        t = self.target

        def current(nl: netlink.Session):
            bridge = nl.get(t.bridge)
            ports = [p for p in nl.links(master=bridge.index) if p.master == bridge.index] if bridge else []
            uplink = nl.get(t.uplink) if t.managed else None
            elsewhere = nl.get(index=uplink.master) if uplink is not None and uplink.master and (
                bridge is None or uplink.master != bridge.index) else None
            return bridge, nl.get(tap) if tap else None, ports, uplink, elsewhere
        bridge, port, ports, uplink, elsewhere = self.read(current, f"check {t.describe()}")
        steps: list[tuple] = []
        if port is not None and bridge is not None and port.master == bridge.index:
            steps.append((f"detach leftover tap {tap} from bridge {t.bridge}", "set",
                          (tap, f"detach {tap} from {t.bridge}"), {"master": 0}))
            ports = [p for p in ports if p.name != tap]
        others = [p.name for p in ports if p.name != t.uplink]
        claims = self.live_claims() if t.managed else []
        remove_bridge = (t.managed and bridge is not None and not others and not claims
                         and _ours(bridge, t, "bridge"))
        if remove_bridge:
            steps.append((f"delete bridge {t.bridge} (created by vif-driver, no port left)", "delete",
                          (t.bridge,), {}))
        # The VLAN device goes only with this network's bridge: never one
        # marked for another network (a physnet renamed, or two mapped to one
        # interface) nor one that is a port of another bridge.
        if elsewhere is not None:
            self.record(f"kept {t.kind} {t.uplink}: a port of {elsewhere.name}, not of {t.bridge}")
        elif (uplink is not None and _ours(uplink, t, "vlan") and not others and not claims
                and (remove_bridge or bridge is None)):
            steps.append((f"delete {t.kind} {t.uplink} (created by vif-driver, bridge gone)", "delete",
                          (t.uplink,), {}))
        if not steps:
            why = (f"ports {', '.join(sorted(others))}" if others else
                   f"claims of {', '.join(sorted(claims))}" if claims else "not created by vif-driver")
            self.record(f"kept {t.describe()}: {why}" if bridge else f"nothing to clean for {t.describe()}")
            return
        for step in steps:
            self.record(step[0], write=True)
        if self.dry_run:
            return
        _verified.pop((self.namespace, t.bridge), None)

        def work(session):
            for _text, func, args, kwargs in steps:
                getattr(session, func)(*args, **kwargs)
        self._write(work, f"clean up {t.describe()}")


def _ours(link: netlink.Link, target: naming.Target, role: str) -> bool:
    """True when ``link`` carries this driver's mark for ``role`` of this
    very network (physical network and VLAN): a device marked for another
    network is that network's to change or remove."""
    mark = naming.parse_alias(link.alias)
    return mark is not None and mark[:3] == (role, target.physnet, str(target.vlan))


def _check_admin_bridge(t: naming.Target, bridge) -> None:
    if bridge is None:
        raise HostError(f"bridge {t.bridge} does not exist; create it, or give physical_network and "
                        f"segmentation_id so the driver builds one")
    if bridge.kind != "bridge":
        raise HostError(f"{t.bridge} is a {bridge.kind or 'plain'} device, not a Linux bridge; fix the bridge option")
    if not bridge.up:
        raise HostError(f"bridge {t.bridge} is down; bring it up (ip link set {t.bridge} up)")


def _plan(t: naming.Target, parent, uplink, bridge, master) -> list:
    """The changes that make the network whole, as (description, Session
    method, args, kwargs) steps; raises HostError for conflicts it must not fix."""
    if parent is None:
        raise HostError(f"host interface {t.interface} of physical network {t.physnet} does not exist; "
                        f"fix physical_interface_mappings in [driver:linux_bridge] or create {t.interface}")
    steps: list[tuple] = []
    if bridge is not None:
        if bridge.kind != "bridge":
            raise HostError(f"{t.bridge} exists but is a {bridge.kind or 'plain'} device, not a bridge; "
                            f"remove or rename it")
        mark = naming.parse_alias(bridge.alias)
        if mark and (mark[1], mark[2]) != (t.physnet, str(t.vlan)):
            raise HostError(f"bridge {t.bridge} already serves physical network {mark[1]} VLAN {mark[2]} "
                            f"(name clash); rename one of the physical networks")
    else:
        steps.append((f"create bridge {t.bridge} (mtu {t.mtu or 'default'}, ifalias '{t.alias('bridge')}')",
                      "add_bridge", (t.bridge, t.mtu, t.alias("bridge")), {}))
    if uplink is not None:
        if uplink.kind != t.kind or uplink.vlan_id != t.vlan or uplink.link != parent.index:
            raise HostError(f"{t.uplink} exists but is not {t.kind} {t.vlan} of {t.interface}; "
                            f"remove or rename it")
        if master is not None:
            raise HostError(f"{t.uplink} is already a port of {master.name}; detach it "
                            f"(ip link set {t.uplink} nomaster) or map another interface")
    else:
        steps.append((f"create {t.kind} {t.uplink} (id {t.vlan} on {t.interface}, mtu {t.mtu or 'default'}, "
                      f"ifalias '{t.alias('vlan')}')", "add_uplink",
                      (t.kind, t.uplink, parent.index, t.vlan, t.mtu, t.alias("vlan")), {}))
    # The bridge and VLAN device carry every vNIC of the network: raised to
    # a vNIC's larger MTU, never lowered under the others (a vNIC asking for
    # less has it on its own tap, through the XML's <mtu>).
    for name, link, role in ((t.uplink, uplink, "vlan"), (t.bridge, bridge, "bridge")):
        if link is not None and t.mtu and (link.mtu or 0) < t.mtu and _ours(link, t, role):
            steps.append((f"raise mtu of {name} from {link.mtu} to {t.mtu}", "set",
                          (name, f"set mtu {t.mtu} on {name}"), {"mtu": t.mtu}))
    if uplink is None or bridge is None or uplink.master != bridge.index or not uplink.up:
        steps.append((f"attach {t.uplink} to bridge {t.bridge}, up", "set",
                      (t.uplink, f"attach {t.uplink} to {t.bridge}"), {"master": t.bridge, "state": "up"}))
    if bridge is None or not bridge.up:
        steps.append((f"bring bridge {t.bridge} up", "set", (t.bridge, f"bring {t.bridge} up"),
                      {"state": "up"}))
    return steps


def _port_problem(bridge_name: str, tap: str, bridge, port, nl: netlink.Session) -> str | None:
    if bridge is None:
        return f"bridge {bridge_name} does not exist"
    if port is None:
        return f"tap {tap} does not exist"
    if port.master != bridge.index:
        if not port.master:
            return f"tap {tap} is not attached to any bridge (expected {bridge_name})"
        other = nl.get(index=port.master)
        return f"tap {tap} is attached to {other.name if other else port.master}, not {bridge_name}"
    if not port.up:
        return f"tap {tap} is down"
    return None

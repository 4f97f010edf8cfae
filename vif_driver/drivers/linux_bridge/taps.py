"""Which vNIC a tap name belongs to.

A vNIC's tap is 'tap' + the first 11 characters of its id
(vif_driver.core.naming.tap_name), and the framework accepts any id of 1 to
64 characters: ``port-000000-a`` and ``port-000000-b`` both derive
``tapport-0000``. So a plug records the owner of the name
(``<lock_dir>/<tap>.tap``: the vNIC id and its VM's), and

- a plug of another vNIC deriving the same name is refused while the
  owner lives (its tap exists, or its plug is recent: libvirt has not made
  the tap yet); a tap already on a bridge that no record names (a VM started
  before records existed, another tool's device) is refused too;
- teardown detaches a tap only when the record names the vNIC torn down.

Records are read and written under one flock per namespace
(``taps.lock``): the check and the write of a plug are one step.
"""

from __future__ import annotations

import logging
import os
import time
from typing import NamedTuple

from vif_driver.api import HostError
from vif_driver.core import netlink
from vif_driver.drivers.linux_bridge import locks

log = logging.getLogger(__name__)

RECORD_TTL = 3600.0  # seconds a record without its tap still holds the name (a plug libvirt has not finished)


class Owner(NamedTuple):
    vnic_id: str
    vm_id: str
    age: float  # seconds since the plug wrote it


class TapOwners:
    """The tap-name records of one namespace."""

    def __init__(self, *, lock_dir: str, namespace: str | None, timeout: float, dry_run: bool = False):
        self.lock_dir = lock_dir
        self.namespace = namespace or None
        self.timeout = timeout
        self.dry_run = dry_run
        self._suffix = (f"@{namespace}" if namespace else "") + ".tap"
        self._lock_path = os.path.join(lock_dir, "taps" + (f"@{namespace}" if namespace else "") + ".lock")

    def _path(self, tap: str) -> str:
        return os.path.join(self.lock_dir, tap + self._suffix)

    def owner(self, tap: str) -> Owner | None:
        """Who the record of ``tap`` names, None without one."""
        path = self._path(tap)
        try:
            with open(path, "rb") as f:
                words = f.read(256).decode("ascii", "replace").split()
                age = time.time() - os.fstat(f.fileno()).st_mtime
        except FileNotFoundError:
            return None
        except OSError as e:
            raise HostError(f"cannot read {path}: {e.strerror}; fix lock_dir in [driver:linux_bridge] "
                            "or its permissions") from None
        if not words:
            return None
        return Owner(words[0], words[1] if len(words) > 1 else "-", age)

    def take(self, tap: str, vnic_id: str, vm_id: str | None) -> None:
        """Record ``tap`` as ``vnic_id``'s (of VM ``vm_id``); HostError,
        naming the owner, when the name is another live vNIC's. A repeat
        plug of the owner only renews the record (a utime: on ext4 a
        rewrite costs ~0.5 ms, a plug's whole budget in the agent)."""
        path, text = self._path(tap), f"{vnic_id} {vm_id or '-'}"
        with locks.held(self.lock_dir, self._lock_path, self.timeout, "the tap records"):
            owner = self.owner(tap)
            if owner is not None and owner.vnic_id == vnic_id:
                if not self.dry_run:
                    if owner.vm_id == (vm_id or "-"):
                        os.utime(path)
                    else:
                        _write(path, text + "\n", replace=True)
                return
            device = _device(tap, self.namespace, self.timeout)
            if owner is not None:
                if device is not None or owner.age < RECORD_TTL:
                    state = "running" if device is not None else "being plugged"
                    raise HostError(f"tap name {tap} is vNIC {owner.vnic_id}'s (VM {owner.vm_id}, {state}): "
                                    "use a vNIC id whose first 11 characters differ")
            elif device is not None and device[1]:
                raise HostError(f"tap {tap} exists, a port of {device[1]}, of no vNIC of the driver: remove "
                                "it, or use a vNIC id whose first 11 characters differ")
            if not self.dry_run:
                _write(path, text + "\n", replace=owner is not None or os.path.exists(path))

    def mine(self, tap: str, vnic_id: str) -> bool:
        """True when the record of ``tap`` names ``vnic_id``."""
        owner = self.owner(tap)
        return owner is not None and owner.vnic_id == vnic_id

    def drop(self, tap: str, vnic_id: str, only_if_gone: bool = False) -> bool:
        """Remove the record of ``tap`` if it names ``vnic_id`` (and, with
        ``only_if_gone``, the tap no longer exists); True if it did."""
        if self.dry_run or not self.mine(tap, vnic_id):
            return False
        if only_if_gone and _device(tap, self.namespace, self.timeout) is not None:
            return False
        with locks.held(self.lock_dir, self._lock_path, self.timeout, "the tap records"):
            if not self.mine(tap, vnic_id):
                return False
            try:
                os.unlink(self._path(tap))
            except FileNotFoundError:
                return False
        return True


def _device(tap: str, namespace: str | None, timeout: float) -> tuple[int, str | None] | None:
    """(index, name of its master or None) of ``tap``, None if there is no
    such device. A netlink read only when it exists (if_nametoindex first:
    no message, no parsing, on every plug)."""
    import socket

    from vif_driver.core.netns import netns
    try:
        with netns(namespace):
            socket.if_nametoindex(tap)
    except OSError:
        return None

    def read(nl: netlink.Session):
        port = nl.get(tap)
        if port is None:
            return None
        master = nl.get(index=port.master) if port.master else None
        return port.index, master.name if master is not None else None
    return netlink.run(read, namespace=namespace, timeout=timeout, action=f"check tap {tap}")


def _write(path: str, text: str, replace: bool) -> None:
    """Create ``path`` (``replace``: replace it atomically, so a reader
    without the lock sees the old or the new record)."""
    tmp = f"{path}.{os.getpid()}.tmp" if replace else path
    flags = os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC | (os.O_TRUNC if replace else os.O_EXCL)
    try:
        fd = os.open(tmp, flags, 0o644)
        try:
            os.write(fd, text.encode("ascii", "replace"))
        finally:
            os.close(fd)
        if replace:
            os.replace(tmp, path)
    except OSError as e:
        if replace:
            try:
                os.unlink(tmp)
            except OSError:
                pass
        raise HostError(f"cannot write {path}: {e.strerror}; fix lock_dir in [driver:linux_bridge] "
                        "or its permissions") from None

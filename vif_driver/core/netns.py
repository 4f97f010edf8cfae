"""Entering a named network namespace for the calling thread only.

The ``netns`` option points the driver at a namespace other than the host's
(tests, `vif-driver demo`). Netlink sockets belong to the namespace their
creating thread was in, so the driver only needs to be inside while it
opens them; the thread is moved back right after, which keeps a resident
agent's other threads unaffected.
"""

from __future__ import annotations

import os

from vif_driver.api import HostError

CLONE_NEWNET = 0x40000000
NETNS_RUN_DIR = "/run/netns"


def _setns(fd: int) -> None:
    if hasattr(os, "setns"):  # Python >= 3.12
        os.setns(fd, CLONE_NEWNET)
        return
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, os.strerror(errno))


class netns:
    """``with netns(name): ...`` runs the block in namespace ``name``
    (an `ip netns` name); an empty name means the current namespace."""

    def __init__(self, name: str | None):
        self.name = name
        self._home: int | None = None

    def __enter__(self) -> netns:
        if not self.name:
            return self
        path = os.path.join(NETNS_RUN_DIR, self.name)
        try:
            target = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            raise HostError(f"network namespace {self.name!r} does not exist ({path}); "
                            f"create it or fix the netns option") from None
        except OSError as e:
            raise HostError(f"cannot open network namespace {path}: {e.strerror}; run as root") from None
        try:
            self._home = home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
            try:
                _setns(target)
            except OSError as e:
                os.close(home)
                self._home = None
                raise HostError(f"cannot enter network namespace {self.name!r}: {e.strerror}; "
                                f"the netns option needs CAP_SYS_ADMIN (root)") from None
        finally:
            os.close(target)
        return self

    def __exit__(self, *exc) -> None:
        if self._home is not None:
            try:
                _setns(self._home)
            finally:
                os.close(self._home)
                self._home = None


def call_in(name: str | None, func, *args):
    """``func(*args)`` run inside network namespace ``name`` (the current
    one when empty): how a driver opens a netlink or other socket of that
    namespace, since a socket stays in the namespace it was created in."""
    if not name:
        return func(*args)
    with netns(name):
        return func(*args)

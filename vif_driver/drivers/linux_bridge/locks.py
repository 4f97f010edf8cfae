"""Exclusive flocks on files of the driver's lock directory, waited for at
most the hook's timeout (VDSM runs hooks of different VMs at once)."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator

from vif_driver.api import HostError


def acquire(lock_dir: str, path: str, timeout: float, what: str) -> int:
    """An fd of ``path`` holding its exclusive flock (closing it releases
    it); HostError naming ``what`` is locked, or the directory's problem."""
    import fcntl
    try:
        os.makedirs(lock_dir, mode=0o755, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as e:
        raise HostError(f"cannot use lock directory {lock_dir}: {e.strerror}; "
                        f"fix lock_dir in [driver:linux_bridge] or its permissions") from None
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if time.monotonic() > deadline:
                os.close(fd)
                raise HostError(f"{what} stayed locked by another hook for {timeout:g} s ({path}); "
                                "retry, or raise timeout") from None
            time.sleep(0.01)


@contextlib.contextmanager
def held(lock_dir: str, path: str, timeout: float, what: str) -> Iterator[None]:
    fd = acquire(lock_dir, path, timeout, what)
    try:
        yield
    finally:
        os.close(fd)

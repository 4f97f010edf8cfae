"""A sample of host state kept fresh in the resident agent, for caps and stats.

VDSM asks for caps and stats every few seconds, and reading every device of
a host (a netlink dump, /proc/net/dev of 1,000 taps) is most of what such a
request costs. The agent therefore keeps the last sample and a background
thread re-reads it every ``refresh`` seconds while somebody asked in the
last ``idle`` seconds (an idle agent reads nothing). A caller gets a sample
at most ``max_age`` old: an older one (the first request, a refresher that
fell behind) is read on the spot. Every sample carries the time it was
read, which stats report as sampleTime, so the figures stay truthful.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable, Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


class Sample(Generic[T]):
    __slots__ = ("taken", "value", "memo")

    def __init__(self, taken: float, value: T):
        self.taken, self.value = taken, value  # taken: time.time() of the read
        self.memo: dict = {}  # what callers derive from it once


class Sampler(Generic[T]):
    """``read(timeout)`` kept fresh; see the module docstring."""

    def __init__(self, read: Callable[[float], T], *, name: str, refresh: float, max_age: float,
                 idle: float = 600.0):
        self._read, self.name = read, name
        self.refresh, self.max_age, self.idle = refresh, max_age, idle
        self.sample: Sample[T] | None = None
        self._lock = threading.Lock()  # one read at a time
        self._asked = 0.0
        self._timeout = 10.0
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._generation = 0  # bumped by invalidate(): a read begun before is not kept

    def get(self, timeout: float) -> Sample[T]:
        """A sample at most max_age old; TimeoutError when another read holds
        the lock past ``timeout`` (that read has the same bound)."""
        self._asked, self._timeout = time.monotonic(), timeout
        self._start()
        sample = self.sample
        if sample is not None and time.time() - sample.taken <= self.max_age:
            return sample
        deadline = time.monotonic() + timeout
        if not self._lock.acquire(timeout=timeout):
            raise TimeoutError(f"{self.name} was not read within {timeout:g} s")
        try:
            sample = self.sample
            if sample is None or time.time() - sample.taken > self.max_age:
                sample = self._take(max(deadline - time.monotonic(), 0.1))
        finally:
            self._lock.release()
        return sample

    def invalidate(self) -> None:
        """The state changed (the driver's own write): the next get() reads anew."""
        self._generation += 1
        self.sample = None

    def close(self) -> None:
        self._stop.set()

    def _take(self, timeout: float) -> Sample[T]:
        generation = self._generation
        taken = time.time()
        sample = Sample(taken, self._read(timeout))
        if generation == self._generation:
            self.sample = sample
        return sample

    def _start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._loop, daemon=True, name=f"vif-driver-{self.name}")
            self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.refresh):
            if time.monotonic() - self._asked > self.idle:
                return  # nobody asks: no reads on an idle agent
            try:
                with self._lock:
                    self._take(self._timeout)
            except Exception as e:  # noqa: BLE001 - the next request reads on the spot and reports
                log.debug("background read of %s failed: %s", self.name, e)

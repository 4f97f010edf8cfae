"""The agent's threads: a pool that reuses connection threads, a watchdog
that answers for driver calls past their deadline, per-vNIC admission, and
the per-thread stderr capture.

A thread per request (and a second one per driver call, to bound it) cost
each hook a few hundred microseconds of thread start-up and hand-offs; the
pooled thread now reads, runs and answers its request itself, and a single
watchdog thread steps in only when a call overruns its deadline.
"""

from __future__ import annotations

import heapq
import logging
import queue
import threading
import time

log = logging.getLogger(__name__)


class ThreadStderr:
    """sys.stderr for the agent: what a driver call writes there (drivers
    write warnings for vdsm.log on stderr, as in a hook process) is kept for
    that request's answer; other threads write to the real stderr."""

    def __init__(self, real):
        self._real = real
        self._local = threading.local()

    def capture(self) -> None:
        self._local.lines = []

    def captured(self) -> list[str]:
        text = "".join(getattr(self._local, "lines", None) or [])
        self._local.lines = None
        return [line for line in text.splitlines() if line.strip()]

    def write(self, text: str) -> int:
        lines = getattr(self._local, "lines", None)
        if lines is None:
            return self._real.write(text)
        lines.append(text)
        return len(text)

    def flush(self) -> None:
        self._real.flush()

    def __getattr__(self, name):
        return getattr(self._real, name)


class Running:
    """A request admitted for its vNIC: its hook point, when it started and
    its deadline (time.monotonic)."""

    __slots__ = ("point", "started", "deadline")

    def __init__(self, point: str, started: float, deadline: float):
        self.point, self.started, self.deadline = point, started, deadline


class VnicGate:
    """Admission per key (a vNIC): a request runs once no other request of
    its vNIC runs; a teardown runs at once, alongside whatever does (it
    never queues: it is best-effort and idempotent, and the drivers guard
    what they share themselves, as they must for hook processes, which
    have no such gate)."""

    def __init__(self):
        self._cond = threading.Condition()
        self._running: dict[object, list[Running]] = {}

    def enter(self, key, me: Running, wait: float, teardown: bool = False) -> tuple[bool, list[Running]]:
        """(admitted, the requests of ``key`` running when ``me`` was
        admitted or gave up). Not admitted after ``wait`` s of waiting."""
        end = time.monotonic() + wait
        with self._cond:
            while not teardown and self._running.get(key):
                left = end - time.monotonic()
                if left <= 0:
                    return False, list(self._running[key])
                self._cond.wait(left)
            running = self._running.setdefault(key, [])
            others = list(running)
            running.append(me)
            return True, others

    def leave(self, key, me: Running) -> None:
        with self._cond:
            running = self._running[key]
            running.remove(me)
            if not running:
                del self._running[key]
            self._cond.notify_all()


class Pool:
    """Run tasks on reused daemon threads: an idle thread takes the task,
    else a new one starts. Unbounded in threads (the caller bounds the
    connections); at most ``max_idle`` wait for work."""

    def __init__(self, max_idle: int):
        self._max_idle = max_idle
        self._tasks: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._waiting = 0

    def submit(self, fn, *args) -> None:
        with self._lock:
            if self._waiting:
                self._waiting -= 1  # that thread is promised this task
                self._tasks.put((fn, args))
                return
        threading.Thread(target=self._work, args=((fn, args),), daemon=True).start()

    def _work(self, task) -> None:
        while True:
            fn, args = task
            try:
                fn(*args)
            except BaseException:  # noqa: BLE001 - a task must not kill its thread silently
                log.exception("task failed")
            with self._lock:
                if self._waiting >= self._max_idle:
                    return
                self._waiting += 1
            task = self._tasks.get()


class Ticket:
    """One request's answer: given by its thread or, past the deadline, by
    the watchdog; whichever comes first answers, the other stays silent."""

    RUNNING, DONE, LATE = range(3)
    __slots__ = ("conn", "_state", "_lock")

    def __init__(self, conn):
        self.conn = conn
        self._state = self.RUNNING
        self._lock = threading.Lock()

    def _move(self, new: int) -> bool:
        with self._lock:
            if self._state != self.RUNNING:
                return False
            self._state = new
            return True

    def claim(self) -> bool:
        """The request's thread answers; False if the watchdog did already."""
        return self._move(self.DONE)

    def expire(self) -> bool:
        """The watchdog answers; False if the request was answered."""
        return self._move(self.LATE)

    def finish(self) -> bool:
        """The request's thread is through; whether the connection is still
        its own to close (not handed to the watchdog)."""
        self._move(self.DONE)
        with self._lock:
            return self._state == self.DONE


class Watchdog:
    """One thread that calls ``on_late(ticket, payload)`` (in a thread of its
    own: answering may block) for each watched ticket still running at its
    deadline (time.monotonic)."""

    def __init__(self, on_late):
        self._on_late = on_late
        self._heap: list = []
        self._seq = 0
        self._cond = threading.Condition()
        self._thread = None

    def watch(self, ticket: Ticket, deadline: float, payload) -> None:
        with self._cond:
            self._seq += 1
            heapq.heappush(self._heap, (deadline, self._seq, ticket, payload))
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="watchdog", daemon=True)
                self._thread.start()
            elif self._heap[0][2] is ticket:
                self._cond.notify()

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._heap:
                    self._cond.wait()
                deadline, _seq, ticket, payload = self._heap[0]
                left = deadline - time.monotonic()
                if left > 0:
                    self._cond.wait(left)
                    continue
                heapq.heappop(self._heap)
            if ticket.expire():
                threading.Thread(target=self._on_late, args=(ticket, payload), daemon=True).start()

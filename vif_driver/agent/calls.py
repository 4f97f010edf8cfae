"""The agent's driver calls: each request's deadline, its admission for its
vNIC, the call itself, and the watchdog's answer for a call past its deadline.

The deadline is 2 x ``[vif-driver] timeout`` (each external call is bounded
by it; a call makes a few) plus the wait the driver declares for the call
(VifDriver.wait_bound: the post-plug check's ``plug_timeout``), so the agent
gives up on a call exactly when its own bounds are exhausted, never while a
driver is still inside a wait it was configured to make.

Requests of one vNIC run one at a time (threads.VnicGate), except teardown
(unplug, destroy, migration away), which never waits for an earlier request
of its vNIC: it is best-effort and idempotent, and a check waiting for a
port, or a call hung in its backend, must not hold up a VM's stop.
"""

from __future__ import annotations

import logging
import socket
import sys
import threading
import time
from typing import Callable

from vif_driver.agent import validation
from vif_driver.agent.threads import Running, ThreadStderr, Ticket, VnicGate, Watchdog
from vif_driver.hook import client
from vif_driver.hook.entry import CAPTURE_ENV
from vif_driver.hook.points import HOOK_POINTS, MIGRATION_SOURCE, UNPLUG
from vif_driver.hook.protocol import Response

log = logging.getLogger(__name__)

READ_TIMEOUT = 5.0  # a client has this long to send its whole request; the bound of each send too
MAX_CALLS = 64  # driver calls at once; more wait for one to end, within their deadline
MAX_HUNG = 32  # driver calls past their deadline still running
HANGS = "its backend hangs: check it, then journalctl -u vif-driverd"


def is_teardown(point) -> bool:
    """Unplug (hot-unplug, destroy, a failed hotplug) and migration away."""
    return point.call in (UNPLUG, MIGRATION_SOURCE)


class Calls:
    """Runs validated requests; ``send(conn, response)`` and ``done(conn)``
    are the agent's, for the watchdog's answers."""

    def __init__(self, send: Callable, done: Callable):
        self._send, self._done = send, done
        self.gate = VnicGate()
        self._calls = threading.BoundedSemaphore(MAX_CALLS)
        self._lock = threading.Lock()
        self._hung = 0
        self._latest = 0.0  # the latest deadline given (time.monotonic)
        self._watchdog = Watchdog(self._late)

    def latest_deadline(self) -> float:
        """When the last of the deadlines given so far passes (time.monotonic)."""
        with self._lock:
            return self._latest

    def answer(self, request, cfg, error: str | None, ticket: Ticket | None = None) -> Response | None:
        """The Response to a validated request; None when the request ran
        past its deadline and the watchdog has answered it instead."""
        from vif_driver.core import dispatch
        point = HOOK_POINTS[request.hook_point]
        if error:
            return Response(point.fail_code, messages=[f"vif-driver {point.name}: {error}"])
        if not dispatch.is_ours(point, request.properties, cfg):
            return Response(0)
        try:
            validation.identifiers(request)
        except validation.Refused as e:
            return Response(point.fail_code, messages=[f"vif-driver agent: refused: {e}"])
        with self._lock:
            if self._hung >= MAX_HUNG:
                return Response(point.fail_code, messages=[
                    f"vif-driver agent: {self._hung} earlier requests are stuck in the backend; "
                    "restart the agent (systemctl restart vif-driverd) after fixing the backend"])
        wait = self._wait_bound(request, cfg)
        deadline_s = client.request_deadline(cfg.timeout, wait)
        deadline = time.monotonic() + deadline_s
        with self._lock:
            self._latest = max(self._latest, deadline)
        if ticket is not None:
            # the hook waits a short fixed time for this, then for the deadline
            # it names: the hook does not read the config, the agent owns the bound
            _announce(ticket.conn, deadline_s)
        failed_capture = _capture(request, cfg, point)
        key = None if point.json else request.properties.get("vnic_id")
        bound = "2 x [vif-driver] timeout" + (f" + the driver's wait of {wait:g} s" if wait else "")
        response = self._run(request, cfg, point, key, Running(point.name, time.monotonic(), deadline),
                             f"{deadline_s:g} s ({bound})", ticket)
        if response is not None and failed_capture:
            response.messages.insert(0, failed_capture)
        return response

    @staticmethod
    def _wait_bound(request, cfg) -> float:
        from vif_driver.core import dispatch
        try:
            return dispatch.wait_bound(request, cfg)
        except Exception as e:  # noqa: BLE001 - a driver bug: the deadline falls back to 2 x timeout
            log.warning("%s: the driver's wait_bound failed (%s: %s); allowing 2 x timeout",
                        request.hook_point, type(e).__name__, e)
            return 0.0

    def _run(self, request, cfg, point, key, me: Running, within: str,
             ticket: Ticket | None) -> Response | None:
        """The driver call, on this (pooled) thread. The watchdog answers
        for it at the deadline if it is still running then; the call's own
        answer is dropped when it finally comes."""
        from vif_driver.core import dispatch
        what = f"vnic {key}" if key else "host"
        if ticket is not None:
            self._watchdog.watch(ticket, me.deadline, Response(point.fail_code, messages=[
                f"vif-driver agent: {point.name} {what}: no answer from the driver within {within}; {HANGS}"]))
        entered = False
        others: list[Running] = []
        notes: list[str] = []
        try:
            if key is not None:
                entered, others = self.gate.enter(key, me, me.deadline - time.monotonic() - 0.25,
                                                  teardown=is_teardown(point))
                if entered:
                    notes = _alongside(point, key, others)
            if key is not None and not entered and others:
                earliest = min(others, key=lambda o: o.started)
                response = Response(point.fail_code, messages=[
                    f"vif-driver agent: {point.name} vnic {key}: the earlier {earliest.point} of this vNIC "
                    f"is still running after {time.monotonic() - earliest.started:.0f} s; {HANGS}"])
            elif not self._calls.acquire(timeout=max(me.deadline - time.monotonic() - 0.25, 0)):
                response = Response(point.fail_code, messages=[
                    f"vif-driver agent: {point.name} {what}: {MAX_CALLS} driver calls ran for all of its "
                    f"{within}; {HANGS}"])
            else:
                try:
                    response = _call(dispatch.handle, request, cfg)
                finally:
                    self._calls.release()
                response.messages[:0] = notes
        except BaseException as e:  # noqa: BLE001 - dispatch maps errors; this is a last resort
            response = Response(point.fail_code, messages=[
                f"vif-driver agent: {point.name}: internal error {type(e).__name__}: {e}"])
        finally:
            if entered:
                self.gate.leave(key, me)
        if ticket is not None and not ticket.claim():
            with self._lock:
                self._hung -= 1
            return None
        return response

    def _late(self, ticket: Ticket, response: Response) -> None:
        """Watchdog: the driver call of ``ticket`` passed its deadline."""
        with self._lock:
            self._hung += 1
        self._send(ticket.conn, response)
        self._done(ticket.conn)


def _call(handle, request, cfg) -> Response:
    """``handle(request, cfg)`` with what the driver writes to stderr
    returned first among the messages, as a hook process prints it."""
    stderr = sys.stderr if isinstance(sys.stderr, ThreadStderr) else None
    try:
        if stderr:
            stderr.capture()
        response = handle(request, cfg)
        if stderr:
            response.messages[:0] = stderr.captured()
        return response
    finally:
        if stderr:
            stderr.captured()


def _alongside(point, key, others: list[Running]) -> list[str]:
    """A teardown admitted while earlier requests of its vNIC run: logged;
    one line for the hook when one of them is past its deadline (hung)."""
    if not others:
        return []
    now = time.monotonic()
    log.info("%s vnic %s: runs alongside the earlier %s of this vNIC (teardown never waits)", point.name,
             key, ", ".join(f"{o.point} ({now - o.started:.1f} s)" for o in others))
    hung = [o for o in others if now >= o.deadline]
    if not hung:
        return []
    oldest = min(hung, key=lambda o: o.started)
    return [f"vif-driver agent: {point.name} vnic {key}: ran without waiting for the earlier {oldest.point} "
            f"of this vNIC, hung in the driver for {now - oldest.started:.0f} s (journalctl -u vif-driverd)"]


def _announce(conn: socket.socket, deadline_s: float) -> None:
    try:
        conn.settimeout(READ_TIMEOUT)
        conn.sendall(client.deadline_message(deadline_s))
    except OSError as e:  # the hook went away: its answer will not be sent either
        log.info("could not announce the deadline (the hook went away?): %s", e)


def _capture(request, cfg, point) -> str | None:
    """capture_dir of the config: save this owned run as a fixture, as
    the hook process does without an agent (with $VIF_DRIVER_CAPTURE_DIR
    the hook has saved it already). A failure is one message, never
    the request's failure."""
    if not cfg.capture_dir or request.properties.get(CAPTURE_ENV):
        return None
    try:
        from vif_driver.tools import capture
        capture.save(cfg.capture_dir, request.hook_point, point, request.properties, data=request.data)
    except Exception as e:  # noqa: BLE001 - a debugging aid must not break VDSM
        log.warning("capture to %s failed: %s", cfg.capture_dir, e)
        return f"vif-driver {request.hook_point}: capture to {cfg.capture_dir} failed: {e}"
    return None

"""A small JSON-RPC client for one OVSDB request at a time, with a timeout.

Why not the IDL: the IDL answers from its replica; the provider needs a
question answered by the server itself (the current write generation, for
read-your-writes across workers, and the schema before the IDL exists),
bounded by the provider's timeout (ovsdbapp's own schema fetch has none).
"""

from __future__ import annotations

import errno
import os
import threading
import time
from typing import Any, Callable

import ovs.jsonrpc
import ovs.poller
import ovs.stream

from .errors import NeutronError


def _unavailable(remote: str, why: str) -> NeutronError:
    return NeutronError(f"OVN northbound database {remote} unavailable: {why}; retry later",
                        status=503, type="ServiceUnavailable")


def set_ssl(ssl: tuple) -> None:
    """Key, certificate and CA for ssl: remotes (process-wide in python-ovs)."""
    key, cert, ca = ssl
    if key:
        ovs.stream.Stream.ssl_set_private_key_file(key)
    if cert:
        ovs.stream.Stream.ssl_set_certificate_file(cert)
    if ca:
        ovs.stream.Stream.ssl_set_ca_cert_file(ca)


FAILURE_STANDS = 1.0  # seconds a failed call answers for the calls queued behind it


class _Lost(Exception):
    """The connection broke (the server closed it, or a socket error)."""


class Rpc:
    """One connection, opened on demand, reopened after an error.

    Between requests the connection idles: ovsdb-server's inactivity probe
    (an echo nobody reads then) makes it close a tcp:/ssl: connection after
    some seconds.  So a request that finds its kept connection lost runs
    once more on a new one (every request here is a read)."""

    def __init__(self, remote: str, timeout: float, ssl: tuple = (None, None, None)) -> None:
        self.remote, self.timeout = remote, timeout
        set_ssl(ssl)
        self._conn: Any = None
        self._lock = threading.Lock()
        # The last failure and until when it stands: requests that queued
        # behind a call that failed fail with it (else the Nth of them
        # would wait N timeouts for a server that does not answer).
        self._failure: tuple[float, NeutronError] | None = None

    def close_after(self, what: Callable[[Rpc], Any]) -> Any:
        try:
            return what(self)
        finally:
            self.close()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def call(self, method: str, params: list) -> Any:
        with self._lock:
            if self._failure is not None and time.monotonic() < self._failure[0]:
                failed = self._failure[1]
                raise NeutronError(failed.message, type=failed.type, status=failed.status)
            try:
                return self._call_again_if_lost(method, params)
            except NeutronError as exc:
                self.close()
                self._failure = (time.monotonic() + FAILURE_STANDS, exc)
                raise

    def _call_again_if_lost(self, method: str, params: list) -> Any:
        for fresh in (self._conn is None, True):
            try:
                return self._call(method, params)
            except _Lost as lost:
                self.close()
                if fresh:
                    raise _unavailable(self.remote, str(lost)) from None
        raise AssertionError("unreachable")  # the second pass returns or raises

    def _call(self, method: str, params: list) -> Any:
        deadline = time.monotonic() + self.timeout
        if self._conn is None:
            error, stream = ovs.stream.Stream.open(self.remote)
            if not error:
                error, stream = ovs.stream.Stream.open_block((error, stream), int(self.timeout * 1000))
            if error:
                why = "timed out" if error == errno.ETIMEDOUT else os.strerror(error)
                raise _unavailable(self.remote, f"cannot connect ({why})")
            self._conn = ovs.jsonrpc.Connection(stream)
        request = ovs.jsonrpc.Message.create_request(method, params)
        self._conn.send(request)
        while True:
            self._conn.run()
            error, msg = self._conn.recv()
            if msg is not None and msg.id == request.id:
                if msg.type == ovs.jsonrpc.Message.T_ERROR:
                    raise _unavailable(self.remote, f"{method} failed: {msg.error}")
                return msg.result
            if msg is not None and msg.type == ovs.jsonrpc.Message.T_REQUEST and msg.method == "echo":
                self._conn.send(ovs.jsonrpc.Message.create_reply(msg.params, msg.id))  # the probe
            if error and error != errno.EAGAIN:
                raise _Lost("connection lost" if error == ovs.jsonrpc.EOF else os.strerror(error))
            left = deadline - time.monotonic()
            if left <= 0:
                raise _unavailable(self.remote, f"no answer within {self.timeout:g} s")
            if msg is None:
                poller = ovs.poller.Poller()
                self._conn.wait(poller)
                self._conn.recv_wait(poller)
                poller.timer_wait(max(1, int(left * 1000)))
                poller.block()

    def generation(self, key: str) -> int:
        """NB_Global external_ids[key] as the server has it now (0 if none)."""
        result = self.call("transact", ["OVN_Northbound", {
            "op": "select", "table": "NB_Global", "where": [], "columns": ["external_ids"]}])
        rows = result[0].get("rows", []) if result else []
        if not rows:
            return 0
        pairs = rows[0]["external_ids"][1]
        value = dict(pairs).get(key, "0")
        return int(value) if value.isdigit() else 0

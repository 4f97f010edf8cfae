"""The gunicorn worker the provider runs: gevent, bounded per client address.

Why gevent and not gunicorn's ``gthread``: a gthread worker hands a
connection to one of its few threads as soon as it is readable and the
thread then reads the request line and headers synchronously, so a handful
of clients sending one header line a second (a port scanner, one broken
client) held every thread and stopped every VM start of the site.  In a
gevent worker every connection has its own greenlet: a trickling request
waits in its greenlet, never in the way of another, and gunicorn bounds the
wait for each request's head (``keepalive`` seconds from the start of the
connection or the end of the previous answer; see ``timeout_ctx`` in
gunicorn's async workers).  What gunicorn lacks this module adds:

* a bound on the connections of one client address (per worker process),
  so one client cannot take all ``worker_connections`` of a worker; a
  connection over the bound gets a 503 in Neutron's error shape and is
  closed;
* an idle deadline on every socket operation (the TLS handshake, which
  gevent's server does before gunicorn sees the connection, reads, writes
  to a client that stops reading), and a failed handshake is one debug
  line, not a traceback;
* a prompt stop: connections waiting for their next request are closed
  STOP_LINGER after SIGTERM, not at their header deadline (gunicorn's
  gevent worker waits for every connection, up to its graceful timeout),
  and a stop signal that arrives while the worker boots (gevent's monkey
  patching takes a while) is kept, not lost to the arbiter's handlers the
  fork left in place (which made the arbiter wait its graceful timeout).

The body deadline and size limit live in ``server.BufferedBody``: the whole
body is read before the application sees the request.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import ssl
from collections import Counter
from collections.abc import Iterator

import gevent  # type: ignore[import-untyped]
from gevent.server import StreamServer  # type: ignore[import-untyped]
from gunicorn.workers import ggevent
from gunicorn.workers.base_async import AsyncWorker
from gunicorn.workers.ggevent import GeventWorker

log = logging.getLogger(__name__)

# Set by server.ProviderServer in the arbiter before the workers fork
# (gunicorn's Config has no slot for settings of our own).
LIMITS: dict[str, float] = {"per_client": 32, "idle_timeout": 10.0}
# Seconds a stopping worker still waits for the next request on an open
# connection (one a client may be sending), before closing it.
STOP_LINGER = 1.0


def too_many_connections(addr: str, limit: int) -> bytes:
    """The whole HTTP answer to a connection over the per-address bound."""
    body = json.dumps({"NeutronError": {
        "type": "ServiceUnavailable",
        "message": f"Too many connections from {addr} (at most {limit} per "
                   "worker process): close idle connections and retry.",
        "detail": ""}}).encode()
    return (b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n"
            b"Content-Type: application/json\r\nRetry-After: 1\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n"
            + body)


class BoundedStreamServer(StreamServer):
    """gevent's server with the idle deadline on the TLS handshake."""

    def wrap_socket_and_handle(self, client_socket, address):
        client_socket.settimeout(LIMITS["idle_timeout"])
        try:
            return super().wrap_socket_and_handle(client_socket, address)
        except (ssl.SSLError, OSError) as exc:  # timeouts are OSErrors
            log.debug("TLS handshake with %s failed: %s", address, exc)
            client_socket.close()
            return None


class ProviderWorker(GeventWorker):
    """gunicorn's gevent worker with a per-address connection bound."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Greenlets of one worker never run at the same time: no lock.
        self.per_address: Counter[str] = Counter()
        self.head_waits: dict = {}  # greenlet -> its header deadline

    def init_process(self) -> None:
        # This process's GeventWorker.run builds its servers from here.
        ggevent.StreamServer = BoundedStreamServer
        self.early_signals: list[int] = []
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):
            signal.signal(sig, lambda sig, _frame:
                          self.early_signals.append(sig))
        super().init_process()

    def init_signals(self) -> None:
        super().init_signals()
        for sig in self.early_signals:  # now to gunicorn's own handlers
            os.kill(os.getpid(), sig)

    def timeout_ctx(self) -> contextlib.AbstractContextManager:
        """gunicorn's deadline for a request's line and headers (keepalive
        seconds), remembered so that a stop can end the wait."""
        return self._head_wait()

    @contextlib.contextmanager
    def _head_wait(self) -> Iterator[None]:
        # A connection accepted while stopping gets the linger only.
        deadline = gevent.Timeout(
            self.cfg.keepalive if self.alive else STOP_LINGER, False)
        me = gevent.getcurrent()
        self.head_waits[me] = deadline
        try:
            with deadline:  # expiring (or thrown in by a stop): swallowed
                yield
        finally:
            self.head_waits.pop(me, None)

    def handle_exit(self, sig, frame) -> None:
        super().handle_exit(sig, frame)
        gevent.spawn_later(STOP_LINGER, self._end_head_waits)

    def _end_head_waits(self) -> None:
        for greenlet, deadline in list(self.head_waits.items()):
            greenlet.kill(deadline, block=False)

    def handle(self, listener, client, addr) -> None:
        host = addr[0] if isinstance(addr, tuple) else str(addr)
        limit = int(LIMITS["per_client"])
        if self.per_address[host] >= limit:
            log.warning("refused a connection from %s: %d open, at most %d "
                        "per client address (--max-client-connections)",
                        host, self.per_address[host], limit)
            try:
                client.settimeout(1.0)
                client.sendall(too_many_connections(host, limit))
            except OSError:
                pass
            finally:
                client.close()
            return
        self.per_address[host] += 1
        try:
            # GeventWorker.handle would make the socket blocking without a
            # timeout: a client silent in the TLS handshake or not reading
            # its answer would keep the greenlet and its slot forever.
            client.settimeout(LIMITS["idle_timeout"])
            AsyncWorker.handle(self, listener, client, addr)
        finally:
            self.per_address[host] -= 1
            if not self.per_address[host]:
                del self.per_address[host]

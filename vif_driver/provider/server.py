"""Run the provider app under gunicorn, embedded (no gunicorn CLI needed).

gunicorn gives us pre-forked workers, graceful restarts on SIGHUP/SIGTERM,
TLS and IPv6 listeners; one arbiter binds both the Neutron and the Keystone
port.  The workers are gevent workers (``worker.ProviderWorker``): a slow or
idle client holds a greenlet of its own, never a thread another request
needs, and every stage of a request has a deadline: the head
(``--header-timeout``), the body (``--body-timeout``, read whole before the
application runs, by ``BufferedBody``) and every socket operation
(``--idle-timeout``).
"""

from __future__ import annotations

import io
import json
import logging
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Callable

from gunicorn import util as gunicorn_util
from gunicorn.app.base import BaseApplication

from . import worker
from .app import MAX_BODY, create_app
from .auth import Authenticator
from .store import Store

log = logging.getLogger(__name__)


def json_protocol_error(sock, status_int: int, reason: str,
                        mesg: str) -> None:
    """gunicorn's answer to a request it cannot even parse (a request line
    over its limit: 414, too many or too long headers: 431, a bad method,
    header or framing: 400), in Neutron's error shape instead of gunicorn's
    HTML page; same signature as ``gunicorn.util.write_error``, which it
    replaces."""
    # gunicorn 23.0 (Python 3.9) says 400 for both limits; newer ones 414/431.
    if status_int == 400 and mesg.startswith("Request Line is too large"):
        status_int, reason = 414, "URI Too Long"
    elif status_int == 400 and ("Limit request headers fields" in mesg
                                or "Request Header Fields Too Large" in mesg):
        status_int, reason = 431, "Request Header Fields Too Large"
    body = json.dumps({"NeutronError": {
        "type": "HTTP" + reason.replace(" ", ""),
        "message": f"{reason}: {mesg}", "detail": ""}}).encode()
    head = (f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\n"
            "Content-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n")
    gunicorn_util.write_nonblock(sock, head.encode("latin-1") + body)
    _drain(sock)


def _drain(sock, limit: int = 1 << 20, seconds: float = 1.0) -> None:
    """Read what the client still sends, briefly, before gunicorn closes:
    closing a socket with unread input resets the connection, and the
    client would lose the answer it was sent (a 414 for a 64 KiB query)."""
    deadline = time.monotonic() + seconds
    try:
        sock.shutdown(socket.SHUT_WR)
        while limit > 0:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            sock.settimeout(left)
            chunk = sock.recv(65536)
            if not chunk:
                return
            limit -= len(chunk)
    except OSError:
        return


def _json_answer(start_response: Callable, status: str, err_type: str,
                 message: str) -> list[bytes]:
    body = json.dumps({"NeutronError": {"type": err_type, "message": message,
                                        "detail": ""}}).encode()
    start_response(status, [("Content-Type", "application/json"),
                            ("Content-Length", str(len(body)))])
    return [body]


class BufferedBody:
    """WSGI wrapper: the whole request body is read, within a deadline and
    a size bound, before the application runs.

    However the body is framed (Content-Length or chunked, which gunicorn
    decodes), more than ``max_body`` bytes is a 413 and a body not complete
    after ``timeout`` seconds a 408, both in Neutron's error shape, answered
    at once (gunicorn then reads and drops the rest within the header
    deadline, so the client is not reset before it read the answer); the
    application gets a complete body with its real CONTENT_LENGTH.  The deadline is a gevent timeout, which is
    what the provider's worker runs on (none without gevent).
    """

    def __init__(self, app: Callable, max_body: int, timeout: float) -> None:
        self.app = app
        self.max_body = max_body
        self.timeout = timeout

    def _read(self, stream: Any) -> bytes | None:
        """The body, or None when it is over the bound."""
        parts: list[bytes] = []
        size = 0
        while True:
            chunk = stream.read(min(65536, self.max_body + 1 - size))
            if not chunk:
                return b"".join(parts)
            parts.append(chunk)
            size += len(chunk)
            if size > self.max_body:
                return None

    def __call__(self, environ: dict, start_response: Callable
                 ) -> Iterable[bytes]:
        length = environ.get("CONTENT_LENGTH") or ""
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        if length.isdigit() and int(length) > self.max_body:
            return self._too_large(start_response)
        if chunked or (length.isdigit() and int(length)):
            try:
                from gevent import Timeout  # type: ignore[import-untyped]
            except ImportError:  # pragma: no cover - not the provider's worker
                body = self._read(environ["wsgi.input"])
            else:
                try:
                    with Timeout(self.timeout):
                        body = self._read(environ["wsgi.input"])
                except Timeout:
                    log.warning("request body from %s not complete after %g s"
                                " (--body-timeout): connection closed",
                                environ.get("REMOTE_ADDR"), self.timeout)
                    return _json_answer(
                        start_response, "408 Request Timeout",
                        "HTTPRequestTimeout", "Request Timeout: the body was "
                        f"not complete after {self.timeout:g} s.")
            if body is None:
                return self._too_large(start_response)
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
            environ.pop("HTTP_TRANSFER_ENCODING", None)
            # No wsgi.input_terminated (not even False: Werkzeug tests for
            # the key): Werkzeug then bounds the stream by the real
            # CONTENT_LENGTH.  With the key it bounds it by Flask's
            # MAX_CONTENT_LENGTH and the application's read(MAX_BODY + 1)
            # zeroed a 1 MiB buffer per request, half a POST's time.
            environ.pop("wsgi.input_terminated", None)
        return self.app(environ, start_response)

    def _too_large(self, start_response: Callable) -> list[bytes]:
        return _json_answer(
            start_response, "413 Request Entity Too Large",
            "HTTPRequestEntityTooLarge", "Request Entity Too Large: the body "
            f"is over {self.max_body} bytes.")


@dataclass
class ServeConfig:
    """Everything ``vif-driver provider serve`` can be told."""

    db: str
    host: str = "127.0.0.1"
    port: int = 9696
    auth_port: int = 35357  # 0: the token endpoint on the Neutron port only
    read_only: bool = False
    username: str | None = None
    password: str | None = None
    token_ttl: int = 3600
    tls_cert: str | None = None
    tls_key: str | None = None
    workers: int = 2
    threads: int = 4  # accepted for old command lines; gevent workers
    connections: int = 256  # per worker (gunicorn worker_connections)
    max_client_connections: int = 32  # per client address and worker
    header_timeout: int = 5
    body_timeout: int = 10
    idle_timeout: int = 10
    bridge: str = "br-int"
    access_log: bool = False
    log_level: str = "info"
    backend: str = "sqlite"  # or "ovn": ovn_nb names the NB database
    ovn_nb: str | None = None
    ovn_ssl: tuple = (None, None, None)  # private key, certificate, CA cert
    ovn_timeout: float = 10.0
    extra: dict = field(default_factory=dict)

    def binds(self) -> list[str]:
        host = f"[{self.host}]" if ":" in self.host else self.host
        ports = [self.port]
        if self.auth_port and self.auth_port != self.port:
            ports.append(self.auth_port)
        return [f"{host}:{p}" for p in ports]


class ProviderServer(BaseApplication):
    """gunicorn application whose settings come from a ServeConfig."""

    def __init__(self, config: ServeConfig) -> None:
        self.config = config
        # Made here, in the arbiter, so the schema exists before any worker
        # starts and every forked worker shares the token-signing secret.
        self.store = _open_store(config)
        self.auth = Authenticator(config.username, config.password,
                                  ttl=config.token_ttl)
        super().__init__()
        # Before the workers fork, so every worker answers this way.
        gunicorn_util.write_error = json_protocol_error
        worker.LIMITS.update(per_client=config.max_client_connections,
                             idle_timeout=config.idle_timeout)

    def load_config(self) -> None:
        c = self.config
        settings = {
            "bind": c.binds(),
            "workers": c.workers,
            "worker_class": "vif_driver.provider.worker.ProviderWorker",
            "worker_connections": c.connections,
            # In gevent workers, the deadline for each request's line and
            # headers (and the keep-alive wait between requests).
            "keepalive": c.header_timeout,
            # gunicorn's maximum: python-neutronclient splits long filter
            # lists only above 8192 bytes of URI, so 4094 would refuse some.
            "limit_request_line": 8190,
            "timeout": 60,
            "graceful_timeout": 10,
            "proc_name": "vif-driver-provider",
            "control_socket_disable": True,
            "loglevel": c.log_level,
            "accesslog": "-" if c.access_log else None,
            "certfile": c.tls_cert,
            "keyfile": c.tls_key,
            **c.extra,
        }
        if "control_socket_disable" not in self.cfg.settings:
            del settings["control_socket_disable"]  # no control socket in older gunicorn (23.0 on Python 3.9)
        for key, value in settings.items():
            if value is not None:
                self.cfg.set(key, value)

    def load(self):
        logging.basicConfig(level=self.config.log_level.upper())
        app = create_app(self.store, self.auth,
                         read_only=self.config.read_only,
                         neutron_port=self.config.port)
        return BufferedBody(app, MAX_BODY, self.config.body_timeout)


def _open_store(config: ServeConfig):
    if config.backend == "ovn":
        from .ovn_store import OvnStore
        key, cert, ca = config.ovn_ssl
        return OvnStore(config.ovn_nb or "", default_bridge=config.bridge,
                        timeout=config.ovn_timeout, ssl_key=key,
                        ssl_cert=cert, ssl_ca=ca)
    return Store(config.db, default_bridge=config.bridge)


def serve(config: ServeConfig) -> None:
    """Run until SIGTERM/SIGINT; gunicorn exits the process on fatal errors."""
    ProviderServer(config).run()

"""Run the provider app under gunicorn, embedded (no gunicorn CLI needed).

gunicorn gives us pre-forked workers with threads (keep-alive capable
``gthread`` workers), graceful restarts on SIGHUP/SIGTERM, TLS and IPv6
listeners; one arbiter binds both the Neutron and the Keystone port.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field

from gunicorn import util as gunicorn_util
from gunicorn.app.base import BaseApplication

from .app import create_app
from .auth import Authenticator
from .store import Store


def json_protocol_error(sock, status_int: int, reason: str,
                        mesg: str) -> None:
    """gunicorn's answer to a request it cannot even parse (a request line
    over its limit: 414, a bad method or header: 400), in Neutron's error
    shape instead of gunicorn's HTML page; same signature as
    ``gunicorn.util.write_error``, which it replaces."""
    if status_int == 400 and mesg.startswith("Request Line is too large"):
        status_int, reason = 414, "URI Too Long"  # as newer gunicorn says; 23.0 (Python 3.9) says 400
    body = json.dumps({"NeutronError": {
        "type": "HTTP" + reason.replace(" ", ""),
        "message": f"{reason}: {mesg}", "detail": ""}}).encode()
    head = (f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\n"
            "Content-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n")
    gunicorn_util.write_nonblock(sock, head.encode("latin-1") + body)


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
    threads: int = 4
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

    def load_config(self) -> None:
        c = self.config
        settings = {
            "bind": c.binds(),
            "workers": c.workers,
            "threads": c.threads,
            "worker_class": "gthread",
            "keepalive": 5,
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
        return create_app(self.store, self.auth,
                          read_only=self.config.read_only,
                          neutron_port=self.config.port)


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

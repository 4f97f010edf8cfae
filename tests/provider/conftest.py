"""Fixtures: the real provider (``python -m vif_driver.provider serve``,
gunicorn) in a subprocess on 127.0.0.1, and clients for it.

Servers are module-scoped to keep the suite quick on two cores, so tests
create their own networks and never assume an empty database.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
USER, PASSWORD = "admin", "s3cret"

logging.getLogger("neutronclient").setLevel(logging.ERROR)


def free_port(host: str = "127.0.0.1") -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class Provider:
    """One provider server process started with `serve` options."""

    def __init__(self, db: Path, *args: str, host: str = "127.0.0.1",
                 auth_port: bool = True, scheme: str = "http",
                 env: dict | None = None, workers: int | None = 2) -> None:
        self.db, self.args, self.host = db, args, host
        self.workers = workers  # None: serve's own default
        self.env = env or {}
        self.with_auth_port = auth_port
        self.scheme = scheme
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"

    @property
    def auth_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.auth_port or self.port}"

    def start(self, timeout: float = 20.0) -> Provider:
        self.port = free_port(self.host)
        self.auth_port = free_port(self.host) if self.with_auth_port else 0
        env = {**os.environ, "PYTHONPATH": str(REPO), **self.env}
        env.pop("VIF_DRIVER_PROVIDER_USERNAME", None)
        env.pop("VIF_DRIVER_PROVIDER_PASSWORD", None)
        self.log = open(self.db.with_suffix(".log"), "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "vif_driver.provider", "serve",
             "--host", self.host, "--port", str(self.port),
             "--auth-port", str(self.auth_port), "--db", str(self.db),
             *(["--workers", str(self.workers)] if self.workers else []),
             "--threads", "4", "--log-level", "warning",
             *self.args],  # later options (in args) win
            cwd=REPO, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"provider exited {self.proc.returncode}: "
                                   + self.db.with_suffix(".log").read_text())
            try:
                with socket.create_connection((self.host, self.port), 0.5):
                    return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("provider did not start listening in time")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()

    def request(self, method: str, path: str, body: object = None, *,
                token: str | None = None, raw: bytes | None = None,
                headers: dict | None = None, port: int | None = None):
        """(status, headers, parsed JSON or None) over plain http.client."""
        conn = http.client.HTTPConnection(self.host, port or self.port,
                                          timeout=10)
        try:
            hdrs = dict(headers or {})
            data = raw
            if body is not None:
                data = json.dumps(body).encode()
                hdrs["Content-Type"] = "application/json"
            if token:
                hdrs["X-Auth-Token"] = token
            conn.request(method, path, body=data, headers=hdrs)
            resp = conn.getresponse()
            payload = resp.read()
            parsed = json.loads(payload) if payload else None
            return resp.status, dict(resp.getheaders()), parsed
        finally:
            conn.close()

    def token(self) -> str:
        status, _, body = self.request(
            "POST", "/v2.0/tokens", {"auth": {"passwordCredentials": {
                "username": USER, "password": PASSWORD}}},
            port=self.auth_port or self.port)
        assert status == 200, body
        return body["access"]["token"]["id"]


def neutron_client(provider: Provider, *, auth: bool = False, timeout: float = 10):
    """python-neutronclient's v2.0 client, the way the engine would use it."""
    from neutronclient.v2_0 import client
    if auth:
        # Keystone v2.0 password flow: POST {auth_url}/tokens, endpoint from
        # the token's service catalog.
        return client.Client(username=USER, password=PASSWORD,
                             auth_url=provider.auth_url + "/v2.0",
                             timeout=timeout)
    return client.Client(endpoint_url=provider.url, auth_strategy="noauth",
                         timeout=timeout)


BACKENDS = ["sqlite", "ovn"]


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request):
    """The store behind the provider: ``(name, extra serve args)``; for
    ovn a throw-away NB ovsdb-server (ovn_nb.py) for the module."""
    if request.param == "sqlite":
        yield "sqlite", ()
        return
    from ovn_nb import NbServer
    nb = NbServer()
    yield "ovn", ("--backend", "ovn", "--ovn-nb", nb.remote)
    nb.stop()


@pytest.fixture(scope="module")
def provider(tmp_path_factory, backend):
    """Auth off, read-write, on each backend."""
    p = Provider(tmp_path_factory.mktemp("prov") / "p.sqlite", *backend[1]).start()
    p.backend = backend[0]
    yield p
    p.stop()


@pytest.fixture(scope="module")
def neutron(provider):
    return neutron_client(provider)


@pytest.fixture(scope="module")
def secured(tmp_path_factory):
    """Auth on (--username/--password), token endpoint on its own port."""
    p = Provider(tmp_path_factory.mktemp("auth") / "a.sqlite",
                 "--username", USER, "--password", PASSWORD).start()
    yield p
    p.stop()


@pytest.fixture
def make_neutron():
    """neutron_client as a fixture (test modules cannot import conftest)."""
    return neutron_client


@pytest.fixture
def creds():
    return USER, PASSWORD


@pytest.fixture
def network(neutron):
    """A fresh network with one IPv4 /24 subnet."""
    net = neutron.create_network({"network": {"name": "t"}})["network"]
    sub = neutron.create_subnet({"subnet": {
        "network_id": net["id"], "cidr": "10.9.0.0/24",
        "ip_version": 4}})["subnet"]
    return net, sub


@pytest.fixture
def start_provider(tmp_path):
    """Factory for servers with particular options; all stopped at the end."""
    started = []

    def start(*args: str, db: Path | None = None, **kw) -> Provider:
        p = Provider(db or tmp_path / f"p{len(started)}.sqlite", *args, **kw)
        started.append(p)
        return p.start()

    yield start
    for p in started:
        p.stop()

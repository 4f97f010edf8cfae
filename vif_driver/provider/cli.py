"""``vif-driver provider ...``: the reference external network provider."""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile

import click

DEFAULT_DB = "/var/lib/vif-driver/provider.sqlite"
TEMP_DBS = (":temp:", ":memory:")


@click.group(name="provider")
def provider() -> None:
    """Reference external network provider (Neutron v2.0 API subset).

    The oVirt engine talks to it as an "External Network Provider" and the
    VIF drivers look ports up on it from their hooks.
    """


def _bridge_name(value: str) -> str:
    """--bridge reaches every host's plug: the drivers' own grammar."""
    from vif_driver.core import validate
    try:
        return validate.ifname(value)
    except ValueError as e:
        raise click.BadParameter(str(e)) from None


def _ovn_remote(value: str | None) -> str | None:
    """--ovn-nb: unix:/path, tcp:HOST:PORT or ssl:HOST:PORT."""
    if value is None:
        return None
    from vif_driver.drivers.ovs.remote import parse_remote
    kind, _, rest = value.partition(":")
    try:
        if kind == "ssl":
            parse_remote("tcp:" + rest)
            return value
        return parse_remote(value)
    except ValueError as e:
        raise click.BadParameter(f"{e} (or ssl:HOST:PORT)") from None


# What serve needs beyond vif-driver's own dependencies (the provider extra).
SERVER_MODULES = ("flask", "gunicorn", "werkzeug", "gevent", "greenlet",
                  "packaging")


def _server_classes():
    """server.py's classes, or one line saying what to install (exit 1:
    the command line is fine, the installation lacks a part)."""
    try:
        from .server import ProviderServer, ServeConfig
    except ImportError as exc:
        top = (exc.name or "").split(".")[0]
        if top not in SERVER_MODULES:
            raise
        raise click.ClickException(
            f"the provider needs {top}, which is not installed: install "
            "the RPM python3-vif-driver-provider or the pip extra "
            "'vif-driver[provider]'") from None
    return ProviderServer, ServeConfig


@provider.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; IPv6 works too (::1, ::).")
@click.option("--port", default=9696, show_default=True, type=int,
              help="Neutron API port.")
@click.option("--auth-port", default=35357, show_default=True, type=int,
              help="Keystone-style token port (POST /v2.0/tokens); 0 serves "
                   "tokens on the Neutron port only.")
@click.option("--db", default=DEFAULT_DB, show_default=True,
              help="SQLite database file (created if missing). ':temp:' or "
                   "':memory:' use a throw-away file deleted on exit.")
@click.option("--read-only", is_flag=True,
              help="Networks and subnets cannot be created, changed or "
                   "deleted (403); ports still can, as VM NICs need them.")
@click.option("--username", envvar="VIF_DRIVER_PROVIDER_USERNAME",
              help="Turn authentication on: clients must get a token with "
                   "these credentials.  [env: VIF_DRIVER_PROVIDER_USERNAME]")
@click.option("--password", envvar="VIF_DRIVER_PROVIDER_PASSWORD",
              help="Password for --username (prefer the environment "
                   "variable).  [env: VIF_DRIVER_PROVIDER_PASSWORD]")
@click.option("--token-ttl", default=3600, show_default=True, type=int,
              help="Seconds a token stays valid.")
@click.option("--tls-cert", type=click.Path(exists=True, dir_okay=False),
              help="PEM certificate: serve HTTPS on both ports.")
@click.option("--tls-key", type=click.Path(exists=True, dir_okay=False),
              help="PEM private key for --tls-cert.")
@click.option("--workers", type=int,
              help="Worker processes [default: 2; 1 with --backend ovn, where "
                   "each worker keeps a full copy of the database and applies "
                   "every write].")
@click.option("--threads", default=4, show_default=True, type=int,
              help="Accepted for older command lines, no effect: each "
                   "connection has a greenlet of its own (see --connections).")
@click.option("--connections", default=256, show_default=True, type=int,
              help="Open connections per worker process, at most.")
@click.option("--max-client-connections", default=32, show_default=True,
              type=int, help="Open connections of one client address per "
                             "worker process; more are answered 503.")
@click.option("--header-timeout", default=5, show_default=True, type=int,
              help="Seconds for a request's line and headers to arrive (from "
                   "connect or the previous answer); then the connection "
                   "is closed.")
@click.option("--body-timeout", default=10, show_default=True, type=int,
              help="Seconds for a request's whole body to arrive (408).")
@click.option("--idle-timeout", default=10, show_default=True, type=int,
              help="Seconds any one read or write on a connection may wait "
                   "(TLS handshake, a client that stops reading).")
@click.option("--bridge", default="br-int", show_default=True, callback=lambda _c, _p, v: _bridge_name(v),
              help="OVS bridge reported in ports' binding:vif_details when "
                   "the network sets no vif_driver:bridge_name.")
@click.option("--backend", default="sqlite", show_default=True,
              type=click.Choice(["sqlite", "ovn"]),
              help="Where state lives: the --db file, or the OVN northbound "
                   "database --ovn-nb.")
@click.option("--ovn-nb", callback=lambda _c, _p, v: _ovn_remote(v),
              help="OVN NB database for --backend ovn: tcp:HOST:PORT, "
                   "unix:PATH or ssl:HOST:PORT.")
@click.option("--ovn-nb-private-key", type=click.Path(exists=True, dir_okay=False),
              help="PEM private key for an ssl: --ovn-nb.")
@click.option("--ovn-nb-certificate", type=click.Path(exists=True, dir_okay=False),
              help="PEM certificate for an ssl: --ovn-nb.")
@click.option("--ovn-nb-ca-cert", type=click.Path(exists=True, dir_okay=False),
              help="PEM CA certificate that signed the NB server's.")
@click.option("--ovn-timeout", default=10.0, show_default=True, type=float,
              help="Seconds any OVSDB request may take.")
@click.option("--access-log", is_flag=True, help="Log every request.")
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["debug", "info", "warning", "error"]))
def serve(host: str, port: int, auth_port: int, db: str, read_only: bool,
          username: str | None, password: str | None, token_ttl: int,
          tls_cert: str | None, tls_key: str | None, workers: int | None,
          threads: int, connections: int, max_client_connections: int,
          header_timeout: int, body_timeout: int, idle_timeout: int,
          bridge: str, backend: str, ovn_nb: str | None,
          ovn_nb_private_key: str | None, ovn_nb_certificate: str | None,
          ovn_nb_ca_cert: str | None, ovn_timeout: float,
          access_log: bool, log_level: str) -> None:
    """Serve the Neutron v2.0 API until SIGTERM or Ctrl-C.

    Example: vif-driver provider serve --db :temp: --auth-port 0
    """
    ProviderServer, ServeConfig = _server_classes()
    from .errors import NeutronError
    if (username is None) != (password is None):
        raise click.UsageError("--username and --password go together "
                               "(authentication is on only with both).")
    if (tls_cert is None) != (tls_key is None):
        raise click.UsageError("--tls-cert and --tls-key go together.")
    if workers is None:
        workers = 1 if backend == "ovn" else 2
    if min(workers, threads, connections, max_client_connections,
           header_timeout, body_timeout, idle_timeout) < 1:
        raise click.UsageError(
            "--workers, --threads, --connections, --max-client-connections "
            "and the --*-timeout options must be at least 1.")
    if (backend == "ovn") != (ovn_nb is not None):
        raise click.UsageError("--backend ovn and --ovn-nb go together "
                               "(e.g. --backend ovn --ovn-nb tcp:127.0.0.1:6641).")
    if ovn_nb and ovn_nb.startswith("ssl:") and not (
            ovn_nb_private_key and ovn_nb_certificate and ovn_nb_ca_cert):
        raise click.UsageError("an ssl: --ovn-nb needs --ovn-nb-private-key, "
                               "--ovn-nb-certificate and --ovn-nb-ca-cert.")
    if ovn_timeout <= 0:
        raise click.UsageError("--ovn-timeout must be greater than 0.")
    tmp, owner = None, os.getpid()
    if db in TEMP_DBS:
        # mkdtemp, not TemporaryDirectory: its atexit finalizer would run
        # in every exiting worker too.
        tmp = tempfile.mkdtemp(prefix="vif-driver-provider-")
        db = os.path.join(tmp, "provider.sqlite")
    config = ServeConfig(
        db=db, host=host, port=port, auth_port=auth_port,
        read_only=read_only, username=username, password=password,
        token_ttl=token_ttl, tls_cert=tls_cert, tls_key=tls_key,
        workers=workers, threads=threads, connections=connections,
        max_client_connections=max_client_connections,
        header_timeout=header_timeout, body_timeout=body_timeout,
        idle_timeout=idle_timeout, bridge=bridge,
        access_log=access_log, log_level=log_level, backend=backend,
        ovn_nb=ovn_nb, ovn_timeout=ovn_timeout,
        ovn_ssl=(ovn_nb_private_key, ovn_nb_certificate, ovn_nb_ca_cert))
    try:
        from .store import UnwritableDatabase
        try:
            server = ProviderServer(config)
        except NeutronError as exc:  # the OVN NB database (one line)
            raise click.ClickException(str(exc)) from None
        except UnwritableDatabase as exc:  # the message names the cause
            raise click.ClickException(
                f"cannot open database {db}: {exc} (choose another --db)"
            ) from None
        except (OSError, sqlite3.Error, RuntimeError) as exc:
            raise click.ClickException(
                f"cannot open database {db}: {exc} (choose another --db or "
                "fix its directory's permissions)") from None
        server.run()
    finally:
        # Workers are forked from inside server.run() and unwind through
        # here too when they exit: only the arbiter removes the temp DB.
        if tmp is not None and os.getpid() == owner:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":  # pragma: no cover
    provider(prog_name="vif-driver provider")

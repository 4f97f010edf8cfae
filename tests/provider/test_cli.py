"""`vif-driver provider serve`: options, IPv6, TLS, start-up errors."""

import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from vif_driver.provider.cli import provider as provider_group
from vif_driver.provider_client.http import ProviderError, get_port

from support import require


def run_cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "vif_driver.provider",
                           *args], capture_output=True, text=True,
                          timeout=60, env=env)


def test_group_and_help():
    assert provider_group.name == "provider"
    out = run_cli("serve", "--help")
    assert out.returncode == 0
    for option in ("--host", "--port", "--auth-port", "--db", "--read-only",
                   "--username", "--password", "--tls-cert", "--tls-key",
                   "--workers", "--threads", "9696", "35357",
                   "--connections", "--max-client-connections",
                   "--header-timeout", "--body-timeout", "--idle-timeout",
                   "VIF_DRIVER_PROVIDER_PASSWORD"):
        assert option in out.stdout


@pytest.mark.parametrize("args,message", [
    (["--username", "u"], "--username and --password go together"),
    (["--tls-cert", __file__], "--tls-cert and --tls-key go together"),
    (["--workers", "0"], "at least 1"),
    (["--header-timeout", "0"], "at least 1"),
    (["--max-client-connections", "0"], "at least 1"),
])
def test_usage_errors_exit_2(args, message):
    out = run_cli("serve", "--db", ":temp:", *args)
    assert out.returncode == 2 and message in out.stderr


def test_unusable_database_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    out = run_cli("serve", "--db", str(blocker / "sub" / "p.sqlite"))
    assert out.returncode == 1
    assert "cannot open database" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def _has_ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def test_ipv6_listener_and_single_port_auth(start_provider):
    require(_has_ipv6_loopback(), "IPv6 loopback (::1)")
    p = start_provider("--username", "u", "--password", "p", "--db",
                       ":temp:", host="::1", auth_port=False)
    assert p.url.startswith("http://[::1]:")
    status, _, body = p.request("POST", "/v2.0/tokens", {
        "auth": {"passwordCredentials": {"username": "u", "password": "p"}}})
    assert status == 200
    assert body["access"]["serviceCatalog"][0]["endpoints"][0][
        "publicURL"] == p.url
    token = body["access"]["token"]["id"]
    status, _, body = p.request("POST", "/v2.0/networks",
                                {"network": {"name": "v6"}}, token=token)
    assert status == 201


def test_tls(tmp_path, start_provider, make_neutron):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048",
                    "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    p = start_provider("--tls-cert", str(cert), "--tls-key", str(key),
                       scheme="https")
    from neutronclient.v2_0 import client
    neutron = client.Client(endpoint_url=p.url, auth_strategy="noauth",
                            ca_cert=str(cert), timeout=10)
    net = neutron.create_network({"network": {}})["network"]
    port = neutron.create_port({"port": {"network_id": net["id"]}})["port"]
    assert get_port(p.url, port["id"], cafile=str(cert),
                    timeout=5)["id"] == port["id"]
    with pytest.raises(ProviderError, match="cannot reach provider"):
        get_port(p.url, port["id"], timeout=5)  # certificate not trusted


def test_temp_db_outlives_workers_and_goes_with_the_server(tmp_path,
                                                           start_provider):
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    p = start_provider("--db", ":temp:", "--workers", "1",
                       env={"TMPDIR": str(tmpdir)})
    assert p.request("POST", "/v2.0/networks", {"network": {}})[0] == 201
    assert len(list(tmpdir.iterdir())) == 1
    pid = p.proc.pid
    worker = int(open(f"/proc/{pid}/task/{pid}/children").read().split()[0])
    os.kill(worker, signal.SIGTERM)  # gunicorn starts a new one
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            status, _, body = p.request("GET", "/v2.0/networks")
            break
        except OSError:
            time.sleep(0.2)
    assert status == 200 and len(body["networks"]) == 1
    p.stop()
    assert list(tmpdir.iterdir()) == []


HIDE_SERVER_PARTS = """
import sys
class Hide:
    # What an installation without the provider extra looks like.
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("flask", "gunicorn", "werkzeug", "gevent"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, Hide())
sys.argv = ["vif-driver", *sys.argv[1:]]
from vif_driver.tools.cli import main
main(prog_name="vif-driver")
"""


@pytest.mark.parametrize("args", [
    ["provider", "serve", "--db", ":temp:"],
    ["provider", "serve", "--db", ":temp:", "--username", "u",
     "--password", "p"]])
def test_serve_without_the_provider_extra_says_what_to_install(args):
    out = subprocess.run([sys.executable, "-c", HIDE_SERVER_PARTS, *args],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 1, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and len(lines[0]) <= 240, out.stderr
    assert "Traceback" not in out.stderr
    assert "gunicorn" in lines[0]
    assert "vif-driver[provider]" in lines[0]
    assert "python3-vif-driver-provider" in lines[0]

"""vif_driver.provider_client.http: the hooks' standard-library port lookup."""

import http.server
import json
import socket
import subprocess
import sys
import threading

import pytest

from vif_driver.provider_client.http import ProviderError, get_port

from support import is_stdlib

USER, PASSWORD = "admin", "s3cret"  # as conftest.py starts `secured`


def make_port(neutron):
    net = neutron.create_network({"network": {
        "provider:network_type": "vlan", "provider:physical_network": "ph",
        "provider:segmentation_id": 300, "mtu": 9000,
        "vif_driver:bridge_name": "br-vlan"}})["network"]
    port = neutron.create_port({"port": {"network_id": net["id"]}})["port"]
    return net, port


def test_get_port_without_auth(provider, neutron):
    net, port = make_port(neutron)
    got = get_port(provider.url + "/v2.0/", port["id"], timeout=5)
    assert got["id"] == port["id"] and got["mac_address"] == \
        port["mac_address"]
    assert got["binding:vif_details"]["bridge_name"] == "br-vlan"
    assert got["network"]["mtu"] == 9000
    assert got["network"]["provider:segmentation_id"] == 300
    assert got["network"]["provider:physical_network"] == "ph"


def test_get_port_with_auth(secured, make_neutron):
    net, port = make_port(make_neutron(secured, auth=True))
    got = get_port(secured.url, port["id"], username=USER, password=PASSWORD,
                   auth_url=secured.auth_url, timeout=5)
    assert got["network"]["id"] == net["id"]
    # the token endpoint is on the Neutron port too
    assert get_port(secured.url, port["id"], username=USER,
                    password=PASSWORD, timeout=5)["id"] == port["id"]
    with pytest.raises(ProviderError, match="username and password"):
        get_port(secured.url, port["id"], username=USER, password="bad",
                 timeout=5)
    with pytest.raises(ProviderError, match="401"):
        get_port(secured.url, port["id"], timeout=5)  # no credentials


def test_missing_port(provider):
    with pytest.raises(ProviderError) as err:
        get_port(provider.url, "0c8b3d4e-0000-4000-8000-000000000000",
                 timeout=5)
    msg = str(err.value)
    assert "\n" not in msg and provider.url in msg and "404" in msg
    assert "vnic_id" in msg
    with pytest.raises(ProviderError, match="no port id"):
        get_port(provider.url, "", timeout=5)


def test_unreachable_provider():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens
    with pytest.raises(ProviderError, match="cannot reach provider"):
        get_port(f"http://127.0.0.1:{port}", "p", timeout=2)
    with pytest.raises(ProviderError, match="must start with http"):
        get_port("not a url", "p", timeout=2)
    with pytest.raises(ProviderError, match="cannot reach provider"):
        get_port("http://[::1", "p", timeout=2)


def test_silent_provider_times_out():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)  # accepts into the backlog, never answers
        url = f"http://127.0.0.1:{s.getsockname()[1]}"
        with pytest.raises(ProviderError, match="did not answer within 0.5s"):
            get_port(url, "p", timeout=0.5)


def test_not_a_neutron_api():
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = b"<html>hello</html>" if "ports" in self.path else \
                json.dumps({"port": None}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with pytest.raises(ProviderError, match="invalid JSON"):
            get_port(f"http://127.0.0.1:{server.server_port}", "p",
                     timeout=5)
    finally:
        server.shutdown()
        server.server_close()


def test_client_imports_only_the_standard_library():
    code = ("import sys; before = set(sys.modules); "
            "import vif_driver.provider_client.http; "
            "new = {m.split('.')[0] for m in set(sys.modules) - before}; "
            "print(' '.join(sorted(new)));"
            "print('urllib.request' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True,
                         text=True, check=True, timeout=30).stdout.split("\n")
    assert [name for name in out[0].split() if not is_stdlib(name)] == ["vif_driver"]
    assert out[1] == "False"  # urllib is loaded only when used


def test_a_trickling_server_is_cut_at_the_timeout():
    """urlopen's timeout bounds each read only: the client's own deadline
    bounds the whole answer."""
    import socket
    import threading
    import time

    from vif_driver.provider_client.http import ProviderError, get_port
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    stop = threading.Event()

    def trickle():
        conn, _ = server.accept()
        conn.recv(65536)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n")
        while not stop.is_set():
            try:
                conn.sendall(b" ")
            except OSError:
                break
            time.sleep(0.05)
        conn.close()
    thread = threading.Thread(target=trickle, daemon=True)
    thread.start()
    start = time.monotonic()
    try:
        with pytest.raises(ProviderError, match="did not answer within 1"):
            get_port(f"http://127.0.0.1:{server.getsockname()[1]}", "p1", timeout=1)
        assert time.monotonic() - start < 3
    finally:
        stop.set()
        server.close()


def test_proxies_from_the_environment_are_ignored(provider, monkeypatch):
    from vif_driver.provider_client.http import call
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    assert isinstance(call("GET", provider.url + "/v2.0/"), dict)  # through a proxy it would fail

"""Wire format and error shape, checked with plain http.client."""

import pytest


def error(body):
    assert set(body) == {"NeutronError"}
    err = body["NeutronError"]
    assert set(err) == {"type", "message", "detail"}
    return err


def test_versions_and_resources(provider):
    status, headers, body = provider.request("GET", "/")
    assert status == 200 and body["versions"][0]["id"] == "v2.0"
    status, headers, body = provider.request("GET", "/v2.0/")
    assert status == 200
    assert headers["Content-Type"] == "application/json"
    assert {r["collection"] for r in body["resources"]} == \
        {"networks", "subnets", "ports"}
    assert headers["X-Openstack-Request-Id"].startswith("req-")


def test_wrapped_bodies_and_statuses(provider):
    status, _, body = provider.request("POST", "/v2.0/networks",
                                       {"network": {"name": "w"}})
    assert status == 201 and body["network"]["name"] == "w"
    net_id = body["network"]["id"]
    status, _, body = provider.request("GET", "/v2.0/networks?name=w")
    assert status == 200 and net_id in [n["id"] for n in body["networks"]]
    status, _, body = provider.request("PUT", f"/v2.0/networks/{net_id}",
                                       {"network": {"name": "w2"}})
    assert status == 200 and body["network"]["name"] == "w2"
    status, headers, body = provider.request("DELETE",
                                             f"/v2.0/networks/{net_id}")
    assert status == 204 and body is None


@pytest.mark.parametrize("method,path,raw,status,etype", [
    ("GET", "/v2.0/nothing", None, 404, "HTTPNotFound"),
    ("GET", "/no/such/url", None, 404, "HTTPNotFound"),
    ("GET", "/v2.0/networks/0c8b3d4e-0000-4000-8000-000000000000", None,
     404, "NetworkNotFound"),
    ("GET", "/v2.0/subnets/0c8b3d4e-0000-4000-8000-000000000000", None,
     404, "SubnetNotFound"),
    ("GET", "/v2.0/ports/0c8b3d4e-0000-4000-8000-000000000000", None,
     404, "PortNotFound"),
    ("PATCH", "/v2.0/networks", None, 405, "HTTPMethodNotAllowed"),
    ("DELETE", "/v2.0/networks", None, 405, "HTTPMethodNotAllowed"),
    ("POST", "/v2.0/networks", b"{not json", 400, "HTTPBadRequest"),
    ("POST", "/v2.0/networks", b"\xff\xfe", 400, "HTTPBadRequest"),
    ("POST", "/v2.0/networks", b"", 400, "HTTPBadRequest"),
    ("POST", "/v2.0/networks", b"[]", 400, "HTTPBadRequest"),
    ("POST", "/v2.0/networks", b'{"net": {}}', 400, "HTTPBadRequest"),
    ("POST", "/v2.0/networks", b'{"network": []}', 400, "HTTPBadRequest"),
    ("POST", "/v2.0/networks", b'{"network": {"x": 1}}', 400,
     "HTTPBadRequest"),
    ("POST", "/v2.0/ports", b'{"port": {}}', 400, "HTTPBadRequest"),
    ("POST", "/v2.0/ports", b'{"port": {"network_id": "abc"}}', 400,
     "InvalidInput"),
    ("GET", "/v2.0/ports?limit=-1", None, 400, "HTTPBadRequest"),
    ("GET", "/v2.0/ports?limit=five", None, 400, "HTTPBadRequest"),
    ("GET", "/v2.0/ports?sort_key=security_groups", None, 400,
     "HTTPBadRequest"),
    ("GET", "/v2.0/ports?sort_key=name&sort_dir=up", None, 400,
     "HTTPBadRequest"),
    ("GET", "/v2.0/ports?sort_key=name&sort_dir=asc&sort_dir=asc", None,
     400, "HTTPBadRequest"),
    ("GET", "/v2.0/ports?limit=1&marker=0c8b3d4e-0000-4000-8000-000000000000",
     None, 404, "PortNotFound"),
    ("GET", "//v2.0//nothing", None, 404, "HTTPNotFound"),
    ("POST", "/v2.0/tokens/extra", b"{}", 405, "HTTPMethodNotAllowed"),
    ("POST", "/vx/tokens", b"{}", 404, "HTTPNotFound"),
    ("GET", "/v3/tokens", None, 405, "HTTPMethodNotAllowed"),
    ("PUT", "/v2.0//ports", b"{}", 405, "HTTPMethodNotAllowed"),
    ("GET", "/v2.0/ports?admin_state_up=perhaps", None, 400, "InvalidInput"),
    ("GET", "/v2.0/ports?fixed_ips=foo", None, 400, "HTTPBadRequest"),
    ("POST", "/v2.0/tokens", b'{"auth": {}}', 400, "HTTPBadRequest"),
])
def test_error_shape(provider, method, path, raw, status, etype):
    got, headers, body = provider.request(method, path, raw=raw)
    assert got == status
    assert headers["Content-Type"] == "application/json"
    err = error(body)
    assert err["type"] == etype and err["message"]


def test_oversized_body_is_413_json(provider):
    raw = b'{"network": {"name": "' + b"x" * (1024 * 1024 + 10) + b'"}}'
    status, _, body = provider.request("POST", "/v2.0/networks", raw=raw)
    assert status == 413
    assert error(body)["type"] == "HTTPRequestEntityTooLarge"


def test_405_lists_allowed_methods(provider):
    status, headers, _ = provider.request("PATCH", "/v2.0/ports")
    assert status == 405 and "POST" in headers["Allow"]


def test_empty_segments_are_routed_not_redirected(provider):
    """``//`` is dropped before routing (as the engine's httpclient and
    ovirt-provider-ovn do): an answer, never a 308 to follow."""
    status, headers, body = provider.request("GET", "//v2.0//networks")
    assert status == 200 and "Location" not in headers
    assert isinstance(body["networks"], list)
    status, _, body = provider.request("GET", "//")
    assert status == 200 and body["versions"][0]["id"] == "v2.0"
    status, _, body = provider.request("POST", "/v2.0//networks/",
                                       {"network": {"name": "slashes"}})
    assert status == 201 and body["network"]["name"] == "slashes"


@pytest.mark.parametrize("request_line,status", [
    (b"GET /v2.0/ports?name=" + b"x" * 9000 + b" HTTP/1.1", 414),
    (b"G@T /v2.0/ports HTTP/1.1", 400),
    (b"GET /v2.0/ports HTTP/9", 400),
])
def test_unparsable_requests_get_json_too(provider, request_line, status):
    """What gunicorn answers before the app sees the request."""
    import json
    import socket
    with socket.create_connection((provider.host, provider.port), 10) as s:
        s.sendall(request_line + b"\r\nHost: x\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.split(b"\r\n")[0].split()[1] == str(status).encode()
    assert b"Content-Type: application/json" in head
    assert error(json.loads(body))["message"]


def test_long_filter_lists_are_served(provider, neutron):
    """python-neutronclient sends up to 8192 bytes of URI (it refuses
    longer ones itself): the provider accepts such a request line."""
    ids = [f"0c8b3d4e-0000-4000-8000-{i:012d}" for i in range(150)]
    path = "/v2.0/ports?" + "&".join(f"id={i}" for i in ids)
    assert 4094 < len(path) < 8100
    status, _, body = provider.request("GET", path)
    assert status == 200 and body == {"ports": []}
    assert neutron.list_ports(id=ids)["ports"] == []


def test_full_port_list_is_byte_for_byte_json_dumps(provider):
    """The joined stored documents read exactly like json.dumps of the
    answer, links included, so no client can tell the fast path."""
    import http.client
    import json
    status, _, body = provider.request("POST", "/v2.0/networks",
                                       {"network": {"name": "bytes"}})
    net_id = body["network"]["id"]
    for name in ("b1", "b\u00e9"):
        provider.request("POST", "/v2.0/ports", {"port": {
            "network_id": net_id, "name": name}})
    for path in ("/v2.0/ports", f"/v2.0/ports?network_id={net_id}&limit=1"):
        conn = http.client.HTTPConnection(provider.host, provider.port,
                                          timeout=10)
        conn.request("GET", path)
        raw = conn.getresponse().read()
        conn.close()
        parsed = json.loads(raw)
        assert raw == json.dumps(parsed).encode()
        assert parsed["ports"]
    assert parsed["ports_links"][0]["rel"] == "next"

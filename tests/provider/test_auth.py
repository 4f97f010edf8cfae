"""Authentication on and off; the Keystone-v2.0 token endpoint."""

import time

import pytest
from neutronclient.common import exceptions as nexc

from vif_driver.provider.auth import Authenticator

USER, PASSWORD = "admin", "s3cret"  # as conftest.py starts `secured`


def test_token_endpoint_on_both_ports(secured):
    assert secured.auth_port and secured.auth_port != secured.port
    for port in (secured.auth_port, secured.port):
        status, _, body = secured.request(
            "POST", "/v2.0/tokens", {"auth": {"passwordCredentials": {
                "username": USER, "password": PASSWORD}}}, port=port)
        assert status == 200
        token = body["access"]["token"]
        assert token["id"] and token["expires"].endswith("Z")
        assert token["expires"] > token["issued_at"]
        endpoint = body["access"]["serviceCatalog"][0]["endpoints"][0]
        assert endpoint["publicURL"] == secured.url


@pytest.mark.parametrize("user,password", [
    (USER, "wrong"), ("root", PASSWORD), (USER, ""), (None, PASSWORD)])
def test_bad_credentials_are_401(secured, user, password):
    status, headers, body = secured.request(
        "POST", "/v2.0/tokens", {"auth": {"passwordCredentials": {
            "username": user, "password": password}}},
        port=secured.auth_port)
    assert status == 401
    assert body["NeutronError"]["type"] == "HTTPUnauthorized"


@pytest.mark.parametrize("token", [None, "", "garbage", "1.2.3",
                                   "9999999999.00.deadbeef"])
def test_requests_without_valid_token_are_401(secured, token):
    for method, path in (("GET", "/v2.0/"), ("GET", "/v2.0/networks"),
                         ("POST", "/v2.0/ports"),
                         ("DELETE", "/v2.0/ports/x")):
        status, headers, body = secured.request(method, path, token=token)
        assert status == 401, (method, path)
        assert "NeutronError" in body
        assert headers["WWW-Authenticate"].startswith("Keystone uri=")


def test_forged_token_is_401(secured):
    token = secured.token()
    expiry, nonce, sig = token.split(".")
    forged = f"{int(expiry) + 999999}.{nonce}.{sig}"
    assert secured.request("GET", "/v2.0/", token=token)[0] == 200
    assert secured.request("GET", "/v2.0/", token=forged)[0] == 401


def test_neutronclient_keystone_v2_password_flow(secured, make_neutron):
    neutron = make_neutron(secured, auth=True)
    net = neutron.create_network({"network": {"name": "authed"}})["network"]
    assert neutron.show_network(net["id"])["network"]["name"] == "authed"
    assert neutron.httpclient.auth_token
    assert neutron.httpclient.endpoint_url == secured.url


def test_neutronclient_with_token_and_endpoint(secured):
    from neutronclient.v2_0 import client
    neutron = client.Client(endpoint_url=secured.url, token=secured.token(),
                            timeout=10)
    assert isinstance(neutron.list_networks()["networks"], list)
    bad = client.Client(endpoint_url=secured.url, token="nope", timeout=10)
    with pytest.raises(nexc.Unauthorized):
        bad.list_networks()


@pytest.mark.parametrize("field", ["username", "password", "tenantName"])
@pytest.mark.parametrize("bad, fix", [
    ("\ud800", "contains a lone UTF-16 surrogate; send valid Unicode text"),
    ("a\u0000", "contains a NUL character (U+0000); remove it")])
def test_unencodable_credentials_are_a_400(secured, provider, field, bad, fix):
    """A lone surrogate could not be encoded for the comparison (a 500);
    auth on or off, on either backend, it is a malformed body."""
    auth = {"passwordCredentials": {"username": USER, "password": PASSWORD}}
    if field == "tenantName":
        auth["tenantName"] = bad
    else:
        auth["passwordCredentials"][field] = bad
    for server in (secured, provider):
        status, _, body = server.request("POST", "/v2.0/tokens", {"auth": auth},
                                         port=server.auth_port)
        assert status == 400, body
        assert body["NeutronError"] == {
            "type": "HTTPBadRequest", "detail": "",
            "message": f"Malformed request body: {field} {fix}"}


def test_auth_off_accepts_anything(provider):
    status, _, body = provider.request(
        "POST", "/v2.0/tokens", {"auth": {"passwordCredentials": {
            "username": "any", "password": "thing"}}},
        port=provider.auth_port)
    assert status == 200 and body["access"]["token"]["id"]
    assert provider.request("GET", "/v2.0/networks")[0] == 200
    assert provider.request("GET", "/v2.0/", token="junk")[0] == 200


def test_token_expiry():
    auth = Authenticator("u", "p", ttl=60)
    token, _, _ = auth.issue(now=1000.0)
    assert auth.valid(token, now=1059.0)
    assert not auth.valid(token, now=1060.0)
    other = Authenticator("u", "p", ttl=60)
    assert not other.valid(token, now=1001.0)  # another server's secret


def test_expired_token_is_rejected_by_server(start_provider):
    p = start_provider("--username", USER, "--password", PASSWORD,
                       "--token-ttl", "1")
    token = p.token()
    assert p.request("GET", "/v2.0/", token=token)[0] == 200
    time.sleep(2.1)
    assert p.request("GET", "/v2.0/", token=token)[0] == 401


def test_password_check_is_constant_time_api():
    auth = Authenticator("u", "p")
    assert auth.check_password("u", "p")
    assert not auth.check_password("u", "p ")
    assert not auth.check_password(["u"], "p")


def test_token_lives_exactly_its_ttl():
    """Issued at 1000.9 with ttl 1, a token is good until 1001.9: the
    expiry is not rounded to a whole second (which once left it 0.1 s)."""
    auth = Authenticator("u", "p", ttl=1)
    token, issued, expires = auth.issue(now=1000.9)
    assert auth.valid(token, now=1001.0)
    assert auth.valid(token, now=1001.899)
    assert not auth.valid(token, now=1001.9)
    assert (issued, expires) == ("1970-01-01T00:16:40Z",
                                 "1970-01-01T00:16:41Z")


@pytest.mark.parametrize("path", [
    "/v2.0/tokens", "/v3/tokens", "/v2.0//tokens", "//v2.0/tokens",
    "/tokens", "/v2.0/tokens/", "/v2/tokens"])
def test_token_under_any_version_prefix(secured, path):
    """The engine posts the v2.0 body to {auth URL}/tokens whatever the
    version the administrator typed (ovirt-provider-ovn accepts them)."""
    status, _, body = secured.request(
        "POST", path, {"auth": {"passwordCredentials": {
            "username": USER, "password": PASSWORD}}},
        port=secured.auth_port)
    assert status == 200, body
    token = body["access"]["token"]["id"]
    assert secured.request("GET", "/v2.0/networks", token=token)[0] == 200
    # the token path is open to POST only: elsewhere a token is needed
    assert secured.request("GET", "/v2.0//networks")[0] == 401

"""Tiny provider client for VIF-driver hooks (standard library only).

Hooks run on every VM start, so this module imports only ``json`` at import
time; ``urllib`` and ``ssl`` are loaded on first use.  Every
failure becomes one ``ProviderError`` whose message names the URL and says
what to fix, so a hook can print it and exit 2.
"""

from __future__ import annotations

import json


class ProviderError(Exception):
    """A port lookup failed; ``str(err)`` is a one-line, actionable message."""


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def _base(url: str) -> str:
    """Accept http://host:9696, .../ and .../v2.0 alike."""
    if not isinstance(url, str) or not url.startswith(("http://",
                                                       "https://")):
        raise ProviderError(f"provider URL {url!r} must start with http:// "
                            "or https://; fix the provider URL in the host "
                            "config")
    url = url.rstrip("/")
    return url[:-len("/v2.0")] if url.endswith("/v2.0") else url


_MAX_ANSWER = 16 << 20


def _deadline_read(resp, deadline: float, url: str, timeout: float) -> bytes:
    """The body, read in chunks against ``deadline``: urlopen's timeout
    bounds each socket operation only, so a server trickling bytes could
    otherwise hold a hook forever."""
    import time
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = resp.read1(65536)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        size += len(chunk)
        if size > _MAX_ANSWER or time.monotonic() > deadline:
            raise ProviderError(f"provider {url} did not answer within {timeout}s (or answered over "
                                f"{_MAX_ANSWER >> 20} MiB); check the provider or raise the timeout")


def _opener(cafile: str | None):
    """No proxies from the environment (custom properties become environment
    variables: a vNIC must not route the provider's credentials elsewhere)
    and no redirects (the configured URL is the only one spoken to)."""
    import ssl
    import urllib.request

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, req, fp, code, msg, headers, newurl):
            raise ProviderError(f"provider {req.full_url} redirects to {newurl}; "
                                "configure the final URL")

    context = ssl.create_default_context(cafile=cafile)
    return urllib.request.build_opener(urllib.request.ProxyHandler({}), NoRedirect(),
                                       urllib.request.HTTPSHandler(context=context))


def _request(url: str, *, timeout: float, method: str = "GET",
             body: dict | None = None, token: str | None = None,
             cafile: str | None = None, what: str = "",
             deadline: float | None = None) -> dict:
    import socket
    import ssl
    import time
    import urllib.error
    import urllib.request

    if deadline is None:
        deadline = time.monotonic() + timeout
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise ProviderError(f"provider {url} did not answer within {timeout}s; check the provider "
                            "is up or raise the timeout in the host config")

    headers = {"Accept": "application/json"}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    if token:
        headers["X-Auth-Token"] = token
    try:
        req = urllib.request.Request(url, data=data, headers=headers,
                                     method=method)
        with _opener(cafile).open(req, timeout=remaining) as resp:
            raw = _deadline_read(resp, deadline, url, timeout)
    except urllib.error.HTTPError as exc:
        raise _http_error(url, exc, what) from None
    except (socket.timeout, TimeoutError):
        raise ProviderError(f"provider {url} did not answer within {timeout}s"
                            "; check the provider is up or raise the timeout"
                            " in the host config") from None
    except (urllib.error.URLError, OSError, ValueError, ssl.SSLError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ProviderError(_one_line(
            f"cannot reach provider {url}: {reason}; check provider_url in the host config "
            "and that the provider runs")) from None
    if not raw:
        return {}  # 204 No Content (DELETE)
    try:
        return json.loads(raw)
    except ValueError:
        raise ProviderError(f"provider {url} answered with invalid JSON; "
                            "check that the URL points at the Neutron API "
                            "(e.g. http://host:9696)") from None


def _http_error(url: str, exc, what: str) -> ProviderError:
    try:
        err = json.loads(exc.read()).get("NeutronError") or {}
    except (ValueError, AttributeError, OSError):
        err = {}
    message = err.get("message") or exc.reason
    if exc.code == 401:
        hint = "check the provider username and password in the host config"
    elif exc.code == 404 and what:
        hint = f"{what} does not exist on the provider; check the vNIC's " \
               "port id (vnic_id) and the provider URL"
    else:
        hint = "see the provider's log"
    return ProviderError(_one_line(
        f"provider {url} answered {exc.code} {err.get('type', '')}: "
        f"{message}; {hint}"))


def call(method: str, url: str, body: dict | None = None, *, timeout: float = 5.0,
         token: str | None = None) -> dict:
    """One API request; the decoded answer ({} for 204). For tools that
    play the engine's part (`vif-driver demo`)."""
    return _request(url, timeout=timeout, method=method, body=body, token=token)


def get_token(auth_url: str, username: str, password: str, *,
              timeout: float = 5.0, cafile: str | None = None,
              deadline: float | None = None) -> str:
    """POST /v2.0/tokens with password credentials; returns the token id."""
    url = _base(auth_url) + "/v2.0/tokens"
    body = {"auth": {"passwordCredentials": {"username": username,
                                             "password": password}}}
    answer = _request(url, timeout=timeout, method="POST", body=body,
                      cafile=cafile, deadline=deadline)
    try:
        return str(answer["access"]["token"]["id"])
    except (KeyError, TypeError):
        raise ProviderError(f"provider {url} sent no access.token.id; check "
                            "that the auth URL is the token endpoint "
                            "(e.g. http://host:35357)") from None


def get_port(url: str, port_id: str, *, username: str | None = None,
             password: str | None = None, timeout: float = 5.0,
             auth_url: str | None = None, cafile: str | None = None) -> dict:
    """The port, with its network under the extra key ``"network"``.

    The network carries what a VIF driver needs beyond the port's
    ``binding:vif_details`` (bridge): ``mtu``, ``provider:network_type``,
    ``provider:physical_network`` and ``provider:segmentation_id``.
    ``auth_url`` defaults to ``url`` (the token endpoint is served on the
    Neutron port too); credentials are used only when a username is given.
    ``timeout`` bounds the whole lookup, all its requests together.
    """
    import time
    from urllib.parse import quote

    deadline = time.monotonic() + timeout
    if not port_id:
        raise ProviderError("no port id (vnic_id) to look up on provider "
                            f"{url}; check the vNIC's custom properties")
    token = None
    if username is not None:
        token = get_token(auth_url or url, username, password or "",
                          timeout=timeout, cafile=cafile, deadline=deadline)
    base = _base(url) + "/v2.0"
    port_url = f"{base}/ports/{quote(port_id, safe='')}"
    port = _request(port_url, timeout=timeout, token=token, cafile=cafile,
                    what=f"port {port_id}", deadline=deadline).get("port")
    if not isinstance(port, dict) or "network_id" not in port:
        raise ProviderError(f"provider {port_url} sent no port object; check "
                            "that the URL points at the Neutron API")
    net_url = f"{base}/networks/{quote(str(port['network_id']), safe='')}"
    network = _request(net_url, timeout=timeout, token=token, cafile=cafile,
                       what=f"network {port['network_id']}",
                       deadline=deadline).get("network")
    if not isinstance(network, dict):
        raise ProviderError(f"provider {net_url} sent no network object")
    return {**port, "network": network}


def update_port(url: str, port_id: str, port: dict, *, username: str | None = None,
                password: str | None = None, timeout: float = 5.0,
                auth_url: str | None = None, cafile: str | None = None) -> dict:
    """PUT /v2.0/ports/ID {"port": port}; returns the updated port.
    ``timeout`` bounds the whole call (token included)."""
    import time
    from urllib.parse import quote

    deadline = time.monotonic() + timeout
    token = None
    if username is not None:
        token = get_token(auth_url or url, username, password or "",
                          timeout=timeout, cafile=cafile, deadline=deadline)
    port_url = f"{_base(url)}/v2.0/ports/{quote(port_id, safe='')}"
    answer = _request(port_url, timeout=timeout, method="PUT", body={"port": port}, token=token,
                      cafile=cafile, what=f"port {port_id}", deadline=deadline)
    return answer.get("port") or {}

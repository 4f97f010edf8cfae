"""The WSGI application: Neutron v2.0 wire format on Flask.

Every answer is JSON, errors included: a client of a Neutron API (the oVirt
engine, python-neutronclient, our own hook client) parses
``{"NeutronError": ...}`` and would choke on an HTML error page, so 404s for
unknown URLs, 405s, oversized and malformed bodies and internal errors all
go through the same error shape.
"""

from __future__ import annotations

import json
import logging
import re
import sqlite3
import uuid
from typing import Any
from urllib.parse import urlencode

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

from . import hazards, rows, validation
from .auth import Authenticator
from .errors import BadRequest, Forbidden, NeutronError, Unauthorized
from .store import Store

log = logging.getLogger(__name__)

COLLECTIONS = {"networks": "network", "subnets": "subnet", "ports": "port"}
READ_ONLY_COLLECTIONS = {"networks", "subnets"}
EXTENSIONS = [
    ("provider", "Provider Network", "network_type, physical_network and "
     "segmentation_id of networks"),
    ("binding", "Port Binding", "binding:host_id, binding:vif_type and "
     "binding:vif_details (the bridge) of ports"),
    ("port-security", "Port Security", "port_security_enabled"),
    ("vif-driver-bridge", "VIF driver bridge", "vif_driver:bridge_name: "
     "the OVS bridge of a network's ports"),
]
MAX_BODY = 1024 * 1024
# Arrays and objects inside one another, at most: Neutron's documents nest a
# few levels; deeper ones are refused before any code walks them.
MAX_DEPTH = 32
# Where a token is asked for: any version prefix an administrator may type
# in the engine's auth URL (/v2.0/tokens, /v3/tokens), or none.
TOKEN_PATH = re.compile(r"(/v[0-9]+(\.[0-9]+)*)?/tokens/?")  # fullmatch


class _DropEmptySegments:
    """WSGI wrapper: ``//`` in a path becomes ``/`` before routing; a query
    string that is not UTF-8 is a 400.

    The engine's httpclient drops empty segments itself, other clients do
    not; Werkzeug would answer such a path with a redirect, which no
    Neutron client follows, so the provider routes it as written without
    the empty segments instead (as ovirt-provider-ovn does).
    """

    def __init__(self, wsgi_app: Any) -> None:
        self.wsgi_app = wsgi_app

    def __call__(self, environ: dict, start_response: Any) -> Any:
        try:  # WSGI strings carry the raw bytes as latin-1
            environ.get("QUERY_STRING", "").encode("latin-1").decode("utf-8")
        except UnicodeError:
            # gunicorn 23 (Python 3.9) passes such a query on, newer ones
            # refuse the request line; Werkzeug would raise on parsing it.
            body = json.dumps(BadRequest(
                "Bad Request: the query string is not UTF-8").body()).encode()
            start_response("400 BAD REQUEST", [
                ("Content-Type", "application/json"),
                ("Content-Length", str(len(body)))])
            return [body]
        path = environ.get("PATH_INFO", "")
        if "//" in path:
            environ["PATH_INFO"] = re.sub("/{2,}", "/", path)
        return self.wsgi_app(environ, start_response)


def _answer(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status,
                    mimetype="application/json")


def _error(err: NeutronError) -> Response:
    return _answer(err.body(), err.status)


def _too_deep(doc: Any) -> bool:
    """Whether ``doc`` nests more than MAX_DEPTH arrays/objects (no
    recursion: the point is not to recurse on a hostile document)."""
    stack = [(doc, 1)]
    while stack:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, dict) else node
        for child in children:
            if isinstance(child, (dict, list)):
                if depth + 1 > MAX_DEPTH:
                    return True
                stack.append((child, depth + 1))
    return False


def _body() -> Any:
    # Read MAX_BODY + 1 bytes whatever the framing: a chunked body has no
    # Content-Length for Flask's MAX_CONTENT_LENGTH to refuse up front.
    raw = request.stream.read(MAX_BODY + 1)
    if len(raw) > MAX_BODY:
        raise NeutronError(f"Request Entity Too Large: the body is over "
                           f"{MAX_BODY} bytes.", status=413,
                           type="HTTPRequestEntityTooLarge")
    if not raw:
        raise BadRequest("Resource body required")
    deep = BadRequest(f"Malformed request body: JSON nested deeper than "
                      f"{MAX_DEPTH} levels")
    try:
        doc = json.loads(raw)
    except RecursionError:
        raise deep from None
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("Malformed request body: not valid JSON") from None
    if isinstance(doc, (dict, list)) and _too_deep(doc):
        raise deep
    return doc


def _only(item: dict, fields: list[str]) -> dict:
    return {k: v for k, v in item.items() if k in fields} if fields else item


def _base_url(port: int | None) -> str:
    """This server's URL as the client reached it, on the Neutron port."""
    host = request.host
    if port:
        if host.startswith("["):
            host = host[:host.index("]") + 1]
        else:
            host = host.rsplit(":", 1)[0]
        host = f"{host}:{port}"
    return f"{request.scheme}://{host}"


def _join_docs(coll: str, docs: list[str], links: list[dict]) -> bytes:
    """``{"<coll>": [...]}`` from pre-encoded documents: one join."""
    tail = f', "{coll}_links": {json.dumps(links)}' if links else ""
    return f'{{"{coll}": [{", ".join(docs)}]{tail}}}'.encode()


def _page_links(coll: str, page: rows.Page, ids: list[str],
                more: bool) -> list[dict]:
    """Neutron's ``<coll>_links``: rel next/previous hrefs with markers.

    Only on paginated lists (``limit``).  Walking forward, "next" exists
    when more items follow and "previous" when the page started after a
    marker; page_reverse swaps the two.
    """
    if not page.paged or not ids:
        return []
    ahead, behind = (more, page.marker is not None)
    if page.reverse:
        ahead, behind = behind, ahead
    keep = [(k, v) for k, v in request.args.items(multi=True)
            if k not in ("marker", "page_reverse")]
    links = []
    if ahead:
        query = urlencode([*keep, ("marker", ids[-1])])
        links.append({"rel": "next", "href": f"{request.base_url}?{query}"})
    if behind:
        query = urlencode([*keep, ("marker", ids[0]),
                           ("page_reverse", "True")])
        links.append({"rel": "previous",
                      "href": f"{request.base_url}?{query}"})
    return links


def create_app(store: Store, auth: Authenticator | None = None, *,
               read_only: bool = False,
               neutron_port: int | None = None) -> Flask:
    """Build the app; ``neutron_port`` is advertised in token catalogs."""
    auth = auth or Authenticator()
    app = Flask(__name__)
    app.url_map.strict_slashes = False
    app.url_map.merge_slashes = False  # _DropEmptySegments does it, no 308
    app.wsgi_app = _DropEmptySegments(app.wsgi_app)  # type: ignore
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY

    @app.errorhandler(NeutronError)
    def neutron_error(err: NeutronError) -> Response:
        resp = _error(err)
        if err.status == 401:
            resp.headers["WWW-Authenticate"] = (
                f'Keystone uri="{_base_url(None)}/v2.0"')
        return resp

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        name = (exc.name or "Error").replace(" ", "")
        resp = _error(NeutronError(exc.description or name,
                                   status=exc.code or 500, type="HTTP" + name))
        allowed = getattr(exc, "valid_methods", None)  # set by MethodNotAllowed
        if allowed:
            resp.headers["Allow"] = ", ".join(allowed)
        return resp

    @app.errorhandler(sqlite3.IntegrityError)
    def integrity_error(exc: sqlite3.IntegrityError) -> Response:
        # Backstop only: the store checks uniqueness before inserting.
        log.warning("constraint failed on %s %s: %s", request.method,
                    request.path, exc)
        return _error(NeutronError(f"Conflict with the stored state: {exc}",
                                   status=409, type="Conflict"))

    @app.errorhandler(sqlite3.OperationalError)
    def busy_error(exc: sqlite3.OperationalError) -> Response:
        log.error("database error on %s %s: %s", request.method,
                  request.path, exc)
        return _error(NeutronError(f"Database unavailable: {exc}; retry "
                                   "later", status=503,
                                   type="ServiceUnavailable"))

    @app.errorhandler(Exception)
    def internal_error(exc: Exception) -> Response:
        log.exception("internal error on %s %s", request.method, request.path)
        return _error(NeutronError("Request failed: internal server error "
                                   "while processing your request."))

    @app.before_request
    def check_token() -> None:
        if not auth.enabled or request.path == "/" or (
                request.method == "POST" and TOKEN_PATH.fullmatch(request.path)):
            return
        if not auth.valid(request.headers.get("X-Auth-Token")):
            raise Unauthorized("Authentication required: send a valid "
                               "X-Auth-Token (POST /v2.0/tokens).")

    @app.after_request
    def request_id(resp: Response) -> Response:
        resp.headers["X-Openstack-Request-Id"] = f"req-{uuid.uuid4()}"
        return resp

    @app.get("/")
    def versions() -> Response:
        return _answer({"versions": [{"id": "v2.0", "status": "CURRENT",
                                    "links": [{"rel": "self", "href":
                                               request.host_url + "v2.0/"}]}]})

    @app.get("/v2.0")
    def resources() -> Response:
        base = request.host_url + "v2.0/"
        return _answer({"resources": [
            {"name": single, "collection": coll,
             "links": [{"rel": "self", "href": base + coll}]}
            for coll, single in COLLECTIONS.items()]})

    @app.get("/v2.0/extensions")
    def extensions() -> Response:
        return _answer({"extensions": [
            {"alias": a, "name": n, "description": d, "links": [],
             "updated": "2024-01-01T00:00:00-00:00"}
            for a, n, d in EXTENSIONS]})

    @app.post("/v2.0/tokens")
    @app.post("/tokens")
    @app.post("/<version>/tokens")
    def tokens(version: str = "v2.0") -> Response:
        """Keystone v2.0 password tokens, whatever version the URL says:
        the engine posts the v2.0 body to ``{auth URL}/tokens`` even when
        the administrator typed a /v3 auth URL."""
        if not TOKEN_PATH.fullmatch(request.path):
            raise NeutronError(f"The resource could not be found: "
                               f"{request.path}", status=404,
                               type="HTTPNotFound")
        body = _body()
        try:
            creds = body["auth"]["passwordCredentials"]
            user, password = creds["username"], creds["password"]
            tenant = body["auth"].get("tenantName") or ""
        except (KeyError, TypeError, AttributeError):
            raise BadRequest('Expecting {"auth": {"passwordCredentials": '
                             '{"username": ..., "password": ...}}}') from None
        for name, value in (("username", user), ("password", password),
                            ("tenantName", tenant)):
            # As in resource bodies; a lone surrogate could not even be
            # encoded for the password comparison (a 500).
            problem = isinstance(value, str) and validation.text_problem(value)
            if problem:
                raise BadRequest(f"Malformed request body: {name} {problem}")
        if not auth.check_password(user, password):
            raise Unauthorized("The request you have made requires "
                               "authentication: bad username or password.")
        token, issued, expires = auth.issue()
        url = _base_url(neutron_port)
        return _answer({"access": {
            "token": {"id": token, "issued_at": issued, "expires": expires,
                      "tenant": {"id": tenant, "name": tenant,
                                 "enabled": True}},
            "user": {"id": user, "name": user, "username": user,
                     "roles": [{"name": "admin"}]},
            "serviceCatalog": [{
                "type": "network", "name": "neutron", "endpoints_links": [],
                "endpoints": [{"region": "RegionOne", "publicURL": url,
                               "internalURL": url, "adminURL": url}]}],
            "metadata": {"is_admin": 0, "roles": []}}})

    def single(coll: str) -> str:
        if coll not in COLLECTIONS:
            raise NeutronError(f"The resource could not be found: "
                               f"/v2.0/{coll}", status=404,
                               type="HTTPNotFound")
        return COLLECTIONS[coll]

    def writable(coll: str) -> str:
        resource = single(coll)
        if read_only and coll in READ_ONLY_COLLECTIONS:
            raise Forbidden(f"The provider is read-only: {coll} cannot be "
                            "created, changed or deleted (ports can).")
        return resource

    @app.get("/v2.0/<coll>")
    def list_resources(coll: str) -> Response:
        resource = single(coll)
        fields = request.args.getlist("fields")
        filters = {k: request.args.getlist(k) for k in request.args
                   if k != "fields"}
        page = rows.parse_page(resource, filters)
        if coll == "ports" and not fields:
            # The engine's locatePort: every port, on every vNIC operation.
            with store.read() as tx:
                docs, more = tx.find_port_docs(filters, page)
            ids = [i for i, _ in docs]
            links = _page_links(coll, page, ids, more)
            return Response(_join_docs(coll, [d for _, d in docs], links),
                            mimetype="application/json")
        with store.read() as tx:
            items, more = getattr(tx, f"find_{coll}")(filters, page)
        links = _page_links(coll, page, [i["id"] for i in items], more)
        answer: dict = {coll: [_only(i, fields) for i in items]}
        if links:
            answer[f"{coll}_links"] = links
        return _answer(answer)

    @app.get("/v2.0/<coll>/<res_id>")
    def show(coll: str, res_id: str) -> Response:
        resource = single(coll)
        with store.read() as tx:
            item = getattr(tx, f"get_{resource}")(res_id)
        return _answer({resource: _only(item, request.args.getlist("fields"))})

    @app.post("/v2.0/<coll>")
    def create(coll: str) -> Response:
        resource = writable(coll)
        body = _body()
        items = validation.parse(resource, body)
        made = store.transact(lambda tx: [
            getattr(tx, f"create_{resource}")(i) for i in items])
        for item in made:
            hazards.warn(resource, item)
        if isinstance(body, dict) and coll in body:
            return _answer({coll: made}, 201)
        return _answer({resource: made[0]}, 201)

    @app.put("/v2.0/<coll>/<res_id>")
    def update(coll: str, res_id: str) -> Response:
        resource = writable(coll)
        changes = validation.parse(resource, _body(), update=True)[0]
        item = store.transact(lambda tx: getattr(tx, f"update_{resource}")(
            res_id, changes))
        hazards.warn(resource, item)
        return _answer({resource: item})

    @app.delete("/v2.0/<coll>/<res_id>")
    def delete(coll: str, res_id: str) -> Response:
        resource = writable(coll)
        store.transact(lambda tx: getattr(tx, f"delete_{resource}")(res_id))
        return Response(status=204)

    return app

"""Checks of a request received by the agent, as strict as for input from
an untrusted user: the peer is only known to be allowed to ask, not to ask
well. Everything here is structural (fields, sizes, encodings, grammars);
the driver's own option parsers and dispatch's checks still run afterwards.
"""

from __future__ import annotations

from vif_driver.core import validate
from vif_driver.hook import client
from vif_driver.hook.points import HOOK_POINTS
from vif_driver.hook.protocol import Request

MAX_JSON_DATA = client.MAX_MESSAGE
_SINGLE = ("hook_point", "dry_run", "data")


class Refused(Exception):
    """The request is malformed or hostile; the message says which field."""


def request_from(payload: bytes) -> Request:
    """The Request a message's payload holds (see vif_driver.hook.client for
    the format), or Refused naming the first bad field."""
    try:
        kind, pairs = client.fields_of(payload)
    except client.ProtocolError as e:
        raise Refused(str(e)) from None
    if kind != client.REQUEST:
        raise Refused(f"a {kind.decode()} message where a request is expected")
    single: dict = {}
    properties: dict = {}
    for key, value in pairs:
        if key in _SINGLE:
            if key in single:
                raise Refused(f"request field {key} is repeated")
            single[key] = value
        elif key == "property":
            name, value_text = _property(value)
            if name in properties:
                raise Refused(f"property {name} is repeated")
            properties[name] = value_text
            if len(properties) > client.MAX_PROPERTIES:
                raise Refused(f"{len(properties)} properties are over the limit of {client.MAX_PROPERTIES}")
        else:
            raise Refused(f"unknown request field {_shown(key)}; expected {', '.join(_SINGLE)}, property")
    for key in ("hook_point", "data"):
        if key not in single:
            raise Refused(f"request field {key} is missing")
    hook_point = _text(single["hook_point"], "hook_point")
    point = HOOK_POINTS.get(hook_point)
    if point is None:
        raise Refused(f"unknown hook point {_shown(hook_point)}")
    dry_run = bytes(single.get("dry_run", b"false"))
    if dry_run not in (b"true", b"false"):
        raise Refused("request field dry_run must be true or false")
    raw = single["data"]
    limit = MAX_JSON_DATA if point.json else client.MAX_XML
    if len(raw) > limit:
        raise Refused(f"data of {len(raw)} bytes is over the {limit}-byte limit for {hook_point}")
    data = _text(raw, "data")
    if "\0" in data:
        raise Refused("data contains a NUL character")
    return Request(hook_point, data, properties, dry_run == b"true")


def _property(value) -> tuple[str, str]:
    # bytes that are not UTF-8 become lone surrogates, as os.environ holds
    # them in a hook process (a VM custom property can carry such bytes):
    # the driver sees the value an in-process call sees; names stay ASCII
    entry = client.environment_text(value)
    name, sep, text = entry.partition("=")
    if not sep or not client.is_property_name(name):
        raise Refused(f"property {_shown(entry)} is not NAME=VALUE with a NAME of [A-Za-z_][A-Za-z0-9_]* "
                      f"and at most {client.MAX_NAME} characters")
    if len(text) > client.MAX_VALUE:
        raise Refused(f"property {name}: value of {len(text)} characters is over the "
                      f"{client.MAX_VALUE}-character limit")
    if "\0" in text:
        raise Refused(f"property {name} contains a NUL character")
    return name, text


def _text(value, key: str) -> str:
    try:
        return str(value, "utf-8")
    except UnicodeDecodeError:
        raise Refused(f"request field {key} is not UTF-8") from None


def identifiers(request: Request) -> None:
    """Grammar of the ids an owned vNIC request carries (ids reach OVSDB
    rows, interface names and logs); Refused on the first bad one."""
    props = request.properties
    checks = (("vnic_id", validate.vnic_id), ("vmId", validate.uuid),
              ("plugin_type", validate.token), ("provider_type", validate.token))
    for key, parse in checks:
        value = props.get(key)
        if value:
            try:
                parse(value)
            except ValueError as e:
                raise Refused(f"property {key}: {e}") from None




def _shown(value: str) -> str:
    """Quoted and cut, so a hostile value keeps a message and a log line short."""
    text = value if len(value) <= 40 else value[:40] + "..."
    return repr(text)

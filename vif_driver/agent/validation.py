"""Checks of a request received by the agent, as strict as for input from
an untrusted user: the peer is only known to be allowed to ask, not to ask
well. Everything here is structural (types, sizes, grammars); the driver's
own option parsers and dispatch's checks still run afterwards.
"""

import re

from vif_driver.core import validate
from vif_driver.hook import client
from vif_driver.hook.points import HOOK_POINTS
from vif_driver.hook.protocol import Request

KEYS = {"hook_point": str, "data": str, "properties": dict, "dry_run": bool}
REQUIRED = ("hook_point", "data", "properties")
MAX_JSON_DATA = client.MAX_MESSAGE
_TOKEN = re.compile(r"[A-Za-z0-9_]{1,64}\Z")  # plugin_type, provider_type


class Refused(Exception):
    """The request is malformed or hostile; the message says which field."""


def with_data(obj, raw: bytes):
    """The decoded envelope with ``data`` put back as text: the bytes after
    the envelope, which must be exactly the count it announces, in UTF-8.
    Anything but an object is left for request_from to refuse."""
    if not isinstance(obj, dict) or ("data" not in obj and not raw):
        return obj
    if "data" not in obj:
        raise Refused("request field data is missing")
    if obj["data"] is None:
        raise Refused("request field data must be int (the byte count of the data after the envelope), not null")
    try:
        return dict(obj, data=client.data_of(obj, raw))
    except ValueError as e:
        raise Refused(f"request {e}") from None


def request_from(obj) -> Request:
    """A Request built from a decoded JSON value, or Refused."""
    if not isinstance(obj, dict):
        raise Refused(f"request must be a JSON object, not {_kind(obj)}")
    for key in obj:
        if key not in KEYS:
            raise Refused(f"unknown request field {_shown(key)}; expected {', '.join(KEYS)}")
    for key in REQUIRED:
        if key not in obj:
            raise Refused(f"request field {key} is missing")
    for key, kind in KEYS.items():
        if key in obj and type(obj[key]) is not kind:
            raise Refused(f"request field {key} must be {kind.__name__}, not {_kind(obj[key])}")
    hook_point = obj["hook_point"]
    point = HOOK_POINTS.get(hook_point)
    if point is None:
        raise Refused(f"unknown hook point {_shown(hook_point)}")
    data = obj["data"]
    limit = MAX_JSON_DATA if point.json else client.MAX_XML
    if len(data) > limit:
        raise Refused(f"data of {len(data)} characters is over the {limit}-character limit for {hook_point}")
    if "\0" in data:
        raise Refused("data contains a NUL character")
    properties = obj["properties"]
    if len(properties) > client.MAX_PROPERTIES:
        raise Refused(f"{len(properties)} properties are over the limit of {client.MAX_PROPERTIES}")
    for name, value in properties.items():
        if not client.is_property_name(name):
            raise Refused(f"property name {_shown(name)} is not [A-Za-z_][A-Za-z0-9_]* of at most "
                          f"{client.MAX_NAME} characters")
        if type(value) is not str:
            raise Refused(f"property {name} must be a string, not {_kind(value)}")
        if len(value) > client.MAX_VALUE:
            raise Refused(f"property {name}: value of {len(value)} characters is over the "
                          f"{client.MAX_VALUE}-character limit")
        if "\0" in value:
            raise Refused(f"property {name} contains a NUL character")
    return Request(hook_point, data, dict(properties), obj.get("dry_run", False))


def identifiers(request: Request) -> None:
    """Grammar of the ids an owned vNIC request carries (ids reach OVSDB
    rows, interface names and logs); Refused on the first bad one."""
    props = request.properties
    checks = (("vnic_id", validate.vnic_id), ("vmId", validate.uuid),
              ("plugin_type", _token), ("provider_type", _token))
    for key, parse in checks:
        value = props.get(key)
        if value:
            try:
                parse(value)
            except ValueError as e:
                raise Refused(f"property {key}: {e}") from None


def _token(value: str) -> str:
    if not _TOKEN.match(value):
        raise ValueError(f"{_shown(value)} is not 1-64 letters, digits or '_'")
    return value


def _kind(value) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean",
            int: "a number", float: "a number", type(None): "null"}.get(type(value), type(value).__name__)


def _shown(value: str) -> str:
    """Quoted and cut, so a hostile value keeps a message and a log line short."""
    text = value if len(value) <= 40 else value[:40] + "..."
    return repr(text)

"""Request-body validation: attribute whitelists, types and address checks.

Each resource has a table of the attributes a client may send on create
(POST) and on update (PUT).  Anything else is a 400, as Neutron does, so a
typo in a client never silently becomes a default.  Values are converted to
their canonical form here (lower-case MACs, compressed IPv6) so the store can
compare them with plain SQL equality.
"""

from __future__ import annotations

import copy
import ipaddress
import uuid
from dataclasses import dataclass
from typing import Any, Callable

from vif_driver.core import validate

from . import ipam
from .errors import BadRequest, InvalidInput, NeutronError

Conv = Callable[[str, Any], Any]

NETWORK_TYPES = {"local", "flat", "vlan", "vxlan", "geneve", "gre"}
# MTU Neutron derives for a 1500-byte physical network per overlay type.
DEFAULT_MTU = {"vxlan": 1450, "geneve": 1442, "gre": 1458}
SEGMENT_RANGES = {"vlan": validate.VLAN_RANGE, "vxlan": (1, 2**24 - 1),
                  "geneve": (1, 2**24 - 1), "gre": (1, 2**32 - 1)}
IPV6_MODES = {None, "slaac", "dhcpv6-stateful", "dhcpv6-stateless"}
VNIC_TYPES = {"normal", "direct", "macvtap", "baremetal", "direct-physical",
              "virtio-forwarder", "smart-nic"}


def text_problem(v: str) -> str | None:
    """What makes ``v`` unstorable, with the fix, or None.

    json.loads lets through U+0000, which ovsdb-server refuses in a JSON
    string (the OVN worker would stall on the commit), and lone UTF-16
    surrogates ("\\ud800"), which sqlite3 cannot encode.
    """
    if "\x00" in v:
        return "contains a NUL character (U+0000); remove it"
    try:
        v.encode("utf-8")
    except UnicodeEncodeError:
        return "contains a lone UTF-16 surrogate; send valid Unicode text"
    return None


def check_text(name: str, v: Any) -> None:
    """Refuse ``v`` if any string in it, nested or a key, is unstorable
    (see text_problem); ``name`` is the attribute the client sent."""
    stack: list[Any] = [v]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            problem = text_problem(node)
            if problem:
                raise InvalidInput(f"{name} {problem}.")
        elif isinstance(node, dict):
            stack.extend(node)
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


def _str(name: str, v: Any) -> str:
    if not isinstance(v, str):
        raise InvalidInput(f"'{v}' is not a valid string for {name}.")
    if len(v) > 255:
        raise InvalidInput(f"{name} is longer than 255 characters.")
    return v


def _bool(name: str, v: Any) -> bool:
    if isinstance(v, bool):
        return v
    if isinstance(v, str) and v.lower() in ("true", "false", "1", "0"):
        return v.lower() in ("true", "1")
    if v in (0, 1) and isinstance(v, int):
        return bool(v)
    raise InvalidInput(f"'{v}' cannot be converted to boolean for {name}.")


def _int_or_none(name: str, v: Any) -> int | None:
    if v is None:
        return None
    if isinstance(v, bool) or (isinstance(v, float) and not v.is_integer()):
        raise InvalidInput(f"'{v}' is not an integer for {name}.")
    try:
        return int(v)
    except (TypeError, ValueError):
        raise InvalidInput(f"'{v}' is not an integer for {name}.") from None


def _str_or_none(name: str, v: Any) -> str | None:
    return None if v is None else _str(name, v)


def uuid_str(name: str, v: Any) -> str:
    try:
        return str(uuid.UUID(str(v)))
    except (ValueError, AttributeError):
        raise InvalidInput(f"'{v}' is not a valid UUID for {name}.") from None


def _grammar(parse: Callable[[str], Any], fix: str, nullable: bool = True) -> Conv:
    """An attribute checked by the grammar the drivers use (vif_driver.core.validate),
    so the provider stores nothing a host would later refuse."""
    def check(name: str, v: Any) -> Any:
        if v is None and nullable:
            return None
        if not isinstance(v, str):
            raise InvalidInput(f"'{v}' is not a valid string for {name}.")
        try:
            return parse(v)
        except ValueError as e:
            raise InvalidInput(f"{name}: {e}; {fix}.") from None
    return check


mac = _grammar(validate.mac, "send one like fa:16:3e:12:34:56, or none: the provider picks one", nullable=False)
_bridge = _grammar(validate.ifname, "use the name of the bridge on the hosts, e.g. br-int")
_physnet = _grammar(validate.physnet, "use the name the hosts map it by, e.g. physnet1")


def ip(name: str, v: Any) -> str:
    try:
        return str(ipaddress.ip_address(v))
    except ValueError:
        raise InvalidInput(f"'{v}' is not a valid IP address for {name}."
                           ) from None


def _ip_or_none(name: str, v: Any) -> str | None:
    return None if v is None else ip(name, v)


def cidr(name: str, v: Any) -> str:
    try:
        return str(ipaddress.ip_network(v, strict=True))
    except (ValueError, TypeError):
        hint = ""
        try:
            hint = f" Did you mean {ipaddress.ip_network(v, strict=False)}?"
        except (ValueError, TypeError):
            pass
        raise InvalidInput(f"'{v}' is not a valid CIDR.{hint}") from None


def _list_of(conv: Conv) -> Conv:
    def check(name: str, v: Any) -> list:
        if not isinstance(v, list):
            raise InvalidInput(f"'{v}' is not a list for {name}.")
        out = [conv(name, x) for x in v]
        if len(set(map(repr, out))) != len(out):
            raise InvalidInput(f"Duplicate items in the list {name}: {v}.")
        return out
    return check


def _dict_keys(*keys: str, required: tuple[str, ...] = ()) -> Conv:
    def check(name: str, v: Any) -> dict:
        if not isinstance(v, dict):
            raise InvalidInput(f"'{v}' is not a dictionary for {name}.")
        extra = set(v) - set(keys)
        if extra:
            raise InvalidInput(f"unexpected keys {sorted(extra)} in {name}; "
                               f"allowed: {list(keys)}.")
        missing = [k for k in required if k not in v]
        if missing:
            raise InvalidInput(f"{name} entries need {missing}.")
        return dict(v)
    return check


def _list_or_none(conv: Conv) -> Conv:
    """A list, or null meaning "none": the oVirt engine sends
    ``"security_groups": null`` on every start of a VM whose vNIC profile
    has no SecurityGroups property (PortForUpdate), so null must not be a
    400."""
    check_list = _list_of(conv)

    def check(name: str, v: Any) -> list:
        return [] if v is None else check_list(name, v)
    return check


def _choice(options: set) -> Conv:
    def check(name: str, v: Any) -> Any:
        # A list or object is not hashable: ``in`` a set would raise.
        if isinstance(v, (list, dict)) or v not in options:
            allowed = sorted(o for o in options if o is not None)
            raise InvalidInput(f"'{v}' is not valid for {name}; "
                               f"allowed: {allowed}.")
        return v
    return check


def _mtu(name: str, v: Any) -> int | None:
    n = _int_or_none(name, v)
    low, high = validate.MTU_RANGE
    if n is not None and not low <= n <= high:
        raise InvalidInput(f"mtu {n} is not in the range {low}-{high}.")
    return n


def _dict(name: str, v: Any) -> dict:
    if not isinstance(v, dict):
        raise InvalidInput(f"'{v}' is not a dictionary for {name}.")
    return v


UNSET = object()  # default meaning "leave out; a later check derives it"


@dataclass(frozen=True)
class Attr:
    conv: Conv
    update: bool = True
    default: Any = None
    required: bool = False


_COMMON = {"name": Attr(_str, default=""),
           "description": Attr(_str, default=""),
           "tenant_id": Attr(_str, update=False, default=""),
           "project_id": Attr(_str, update=False, default="")}

SPECS: dict[str, dict[str, Attr]] = {
    "network": {**_COMMON,
                "admin_state_up": Attr(_bool, default=True),
                "shared": Attr(_bool, default=False),
                "mtu": Attr(_mtu),
                "port_security_enabled": Attr(_bool, default=True),
                "provider:network_type": Attr(_choice(NETWORK_TYPES),
                                              default="local"),
                "provider:physical_network": Attr(_physnet),
                "provider:segmentation_id": Attr(_int_or_none),
                "vif_driver:bridge_name": Attr(_bridge)},
    "subnet": {**_COMMON,
               "network_id": Attr(uuid_str, update=False, required=True),
               "cidr": Attr(cidr, update=False, required=True),
               "ip_version": Attr(_choice({4, 6}), update=False),
               "gateway_ip": Attr(_ip_or_none, default=UNSET),
               "enable_dhcp": Attr(_bool, default=True),
               "dns_nameservers": Attr(_list_of(ip), default=[]),
               "allocation_pools": Attr(_list_of(_dict_keys(
                   "start", "end", required=("start", "end"))),
                   default=UNSET),
               "host_routes": Attr(_list_of(_dict_keys(
                   "destination", "nexthop",
                   required=("destination", "nexthop"))), default=[]),
               "ipv6_ra_mode": Attr(_choice(IPV6_MODES), update=False),
               "ipv6_address_mode": Attr(_choice(IPV6_MODES), update=False)},
    "port": {**_COMMON,
             "network_id": Attr(uuid_str, update=False, required=True),
             "admin_state_up": Attr(_bool, default=True),
             "mac_address": Attr(mac),
             "fixed_ips": Attr(_list_of(_dict_keys("subnet_id",
                                                   "ip_address"))),
             "device_id": Attr(_str, default=""),
             "device_owner": Attr(_str, default=""),
             "security_groups": Attr(_list_or_none(_str), default=[]),
             "port_security_enabled": Attr(_bool),
             "binding:host_id": Attr(_str, default=""),
             "binding:profile": Attr(_dict, default={}),
             "binding:vnic_type": Attr(_choice(VNIC_TYPES),
                                       default="normal")},
}
READ_ONLY = {"id", "status", "subnets", "created_at", "updated_at",
             "binding:vif_type", "binding:vif_details", "revision_number"}


def parse(resource: str, body: Any, *, update: bool = False) -> list[dict]:
    """Check a request body and return the converted attribute dicts.

    Create bodies may be single (``{"port": {...}}``) or bulk
    (``{"ports": [...]}``); updates are single only.
    """
    plural = resource + "s"
    if isinstance(body, dict) and set(body) == {resource}:
        items = [body[resource]]
    elif not update and isinstance(body, dict) and set(body) == {plural} \
            and isinstance(body[plural], list) and body[plural]:
        items = body[plural]
    else:
        raise BadRequest(f"Resource body required: expected a JSON object "
                         f"{{\"{resource}\": {{...}}}}.")
    return [_parse_one(resource, item, update) for item in items]


def _parse_one(resource: str, item: Any, update: bool) -> dict:
    if not isinstance(item, dict):
        raise BadRequest(f"The {resource} must be a JSON object.")
    spec = SPECS[resource]
    method = "PUT" if update else "POST"
    unknown = sorted(k for k in item if k not in spec and k not in READ_ONLY)
    if unknown:
        raise BadRequest(f"Unrecognized attribute(s) '{', '.join(unknown)}'")
    for k in item:
        if k in READ_ONLY or (update and not spec[k].update):
            raise BadRequest(f"Attribute '{k}' not allowed in {method}")
    for k, v in item.items():
        check_text(k, v)
    out = {k: spec[k].conv(k, v) for k, v in item.items()}
    if "tenant_id" in out and "project_id" in out \
            and out["tenant_id"] != out["project_id"]:
        raise BadRequest("tenant_id and project_id do not match.")
    if "project_id" in out:
        out["tenant_id"] = out.pop("project_id")
    if not update:
        for k, a in spec.items():
            if a.required and k not in out:
                raise BadRequest(f"Failed to parse request. Required attribute"
                                 f" '{k}' not specified")
            if k not in out and k != "project_id" and a.default is not UNSET:
                out[k] = copy.deepcopy(a.default)
        if resource == "network":
            check_segment(out)
        elif resource == "subnet":
            check_subnet(out)
    return out


def check_segment(net: dict) -> None:
    """Mirror ML2's type drivers: which provider attributes each type needs."""
    ntype = net["provider:network_type"]
    phys = net.get("provider:physical_network")
    seg = net.get("provider:segmentation_id")
    if ntype in ("flat", "vlan") and not phys:
        raise InvalidInput(f"provider:physical_network required for {ntype} "
                           "provider network.")
    if ntype not in ("flat", "vlan") and phys:
        raise InvalidInput(f"provider:physical_network is not allowed for "
                           f"{ntype} provider network.")
    if ntype in SEGMENT_RANGES:
        lo, hi = SEGMENT_RANGES[ntype]
        if seg is None and ntype != "vlan":
            pass  # a tunnel's key: the backend chooses one (and refuses tunnels it cannot make)
        elif seg is None or not lo <= seg <= hi:
            raise InvalidInput(f"provider:segmentation_id {seg} out of range "
                               f"({lo} through {hi}) for {ntype}.")
    elif seg is not None:
        raise InvalidInput(f"provider:segmentation_id is not allowed for "
                           f"{ntype} provider network.")
    if net.get("mtu") is None:
        net["mtu"] = DEFAULT_MTU.get(ntype, 1500)


def check_subnet(sub: dict) -> None:
    """Fill defaults; check gateway, pools, DNS and routes with ipaddress."""
    net = ipaddress.ip_network(sub["cidr"])
    if sub.get("ip_version") is None:
        sub["ip_version"] = net.version
    elif sub["ip_version"] != net.version:
        raise InvalidInput(f"Cidr {net} does not match ip_version "
                           f"{sub['ip_version']}.")
    if net.version == 4 and (sub.get("ipv6_ra_mode")
                             or sub.get("ipv6_address_mode")):
        raise InvalidInput("ipv6_ra_mode or ipv6_address_mode cannot be set "
                           "when ip_version is 4.")
    lo, hi = ipam.usable_range(net)
    if "gateway_ip" not in sub:
        sub["gateway_ip"] = ipam.default_gateway(net)
    gw = sub["gateway_ip"]
    if gw is not None:
        g = ipaddress.ip_address(gw)
        if g.version != net.version or not lo <= int(g) <= hi:
            raise InvalidInput(f"Gateway {gw} is not a usable address of "
                               f"subnet {net}.")
    _check_dns_routes(sub, net.version)
    if sub.get("allocation_pools") is None:
        sub["allocation_pools"] = ipam.default_pools(net, gw)
        return
    check_pools(sub["allocation_pools"], net, gw)


def check_pools(pools: list[dict], net: Any, gw: str | None) -> None:
    """Pools lie in the subnet's usable range, do not overlap and leave
    out the gateway; canonicalises their addresses in place."""
    lo, hi = ipam.usable_range(net)
    bounds = []
    for pool in pools:
        start, end = (ipaddress.ip_address(ip("allocation_pools", pool[k]))
                      for k in ("start", "end"))
        if start.version != net.version or end.version != net.version \
                or not lo <= int(start) <= int(end) <= hi:
            raise NeutronError(
                f"The allocation pool {start}-{end} spans beyond the usable "
                f"addresses of subnet cidr {net}.", status=400,
                type="OutOfBoundsAllocationPool")
        pool["start"], pool["end"] = str(start), str(end)
        bounds.append((int(start), int(end), pool))
    bounds.sort(key=lambda b: b[0])
    for (_, e1, p1), (s2, _, p2) in zip(bounds, bounds[1:]):
        if s2 <= e1:
            raise NeutronError(
                f"Found overlapping allocation pools: {p1['start']}-"
                f"{p1['end']} and {p2['start']}-{p2['end']} for subnet {net}.",
                status=400, type="OverlappingAllocationPools")
    if gw is not None and any(s <= int(ipaddress.ip_address(gw)) <= e
                              for s, e, _ in bounds):
        raise NeutronError(f"Gateway ip {gw} conflicts with allocation pool "
                           f"{[b[2] for b in bounds]}.", status=400,
                           type="GatewayConflictWithAllocationPools")


def _check_dns_routes(sub: dict, version: int) -> None:
    for route in sub.get("host_routes") or []:
        dest = cidr("host_routes", route["destination"])
        hop = ip("host_routes", route["nexthop"])
        if ipaddress.ip_network(dest).version != version \
                or ipaddress.ip_address(hop).version != version:
            raise InvalidInput(f"Host route {route} does not match the "
                               f"subnet's ip_version {version}.")
        route["destination"], route["nexthop"] = dest, hop


def check_subnet_update(current: dict, changes: dict) -> None:
    """Gateway inside the cidr; pools inside it, apart, without the gateway.

    New pools govern new allocations only: ports keep the addresses they
    have, inside the new pools or not (as in Neutron).
    """
    merged = {**current, **changes}
    net = ipaddress.ip_network(merged["cidr"])
    _check_dns_routes(changes, net.version)
    gw = merged.get("gateway_ip")
    if "gateway_ip" in changes and gw is not None:
        lo, hi = ipam.usable_range(net)
        g = ipaddress.ip_address(gw)
        if g.version != net.version or not lo <= int(g) <= hi:
            raise InvalidInput(f"Gateway {gw} is not a usable address of "
                               f"subnet {net}.")
    if "allocation_pools" in changes:
        check_pools(changes["allocation_pools"], net, gw)
    elif "gateway_ip" in changes and gw is not None and any(
            s <= int(ipaddress.ip_address(gw)) <= e
            for s, e in ipam.pool_bounds(merged["allocation_pools"])):
        raise NeutronError(f"Gateway ip {gw} conflicts with allocation "
                           "pools.", status=400,
                           type="GatewayConflictWithAllocationPools")

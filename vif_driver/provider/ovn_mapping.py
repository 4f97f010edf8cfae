"""How networks, subnets and ports look in the OVN northbound database.

Why a module of its own: the mapping is the compatibility contract with
ovirt-provider-ovn (its names and external_ids keys) and with OVN itself
(what ovn-northd and ovn-controller act on). Both directions live here:
``*_columns`` turn NB rows into the columns of the provider's SQLite schema
(the per-worker mirror ovn_store.py queries), ``write_*`` turn mirror rows
back into NB rows inside an ovs IDL transaction.

network -> Logical_Switch ``ovirt-<name>-<id>`` (id = the row UUID),
           external_ids ovirt_network_name, mtu, ovirt_port_security; flat
           and vlan add a localnet port (options:network_name, tag)
subnet  -> DHCP_Options (id = the row UUID), external_ids ovirt_network_id,
           ovirt_name; options server_id, server_mac, lease_time, router,
           dns_server, mtu, classless_static_route
port    -> Logical_Switch_Port named by the port id, addresses "MAC IP..",
           port_security "MAC IP.." (or none), enabled, dhcpv4_options,
           options:requested-chassis = binding:host_id
What Neutron has and OVN does not is kept under ``vif_driver:`` keys.
"""

from __future__ import annotations

import ipaddress
import json
import re
import uuid
from typing import Any

from . import ipam

P = "vif_driver:"
EPOCH = "1970-01-01T00:00:00Z"
SERVER_MAC = "02:00:00:00:00:00"
LEASE_TIME = "86400"
OVIRT_DEFAULT_MTU = 1442
LOCALNET_PREFIX = "localnet-"
TNL_KEY = "requested-tnl-key"
MAX_TNL_KEY = 2**24 - 1  # a logical switch's tunnel key (ovn-nb(5))
TUNNEL_TYPES = ("geneve", "vxlan", "gre")
_MAC = re.compile(r"[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}(\s|$)")

# column -> (external_ids key, kind, default); kind s(tr) i(nt) b(ool) j(son)
NET_KEYS = {
    "name": ("ovirt_network_name", "s", ""),
    "mtu": ("mtu", "i", OVIRT_DEFAULT_MTU),
    "port_security_enabled": ("ovirt_port_security", "b", False),
    "description": (P + "description", "s", ""),
    "tenant_id": (P + "tenant_id", "s", ""),
    "admin_state_up": (P + "admin_state_up", "b", True),
    "shared": (P + "shared", "b", False),
    "bridge_name": (P + "bridge_name", "s", None),
    "created_at": (P + "created_at", "s", EPOCH),
    "updated_at": (P + "updated_at", "s", EPOCH),
}
SUB_KEYS = {
    "name": ("ovirt_name", "s", ""),
    "network_id": ("ovirt_network_id", "s", ""),
    "ip_version": ("ip_version", "i", None),
    "description": (P + "description", "s", ""),
    "tenant_id": (P + "tenant_id", "s", ""),
    "enable_dhcp": (P + "enable_dhcp", "b", True),
    "allocation_pools": (P + "allocation_pools", "j", None),
    "host_routes": (P + "host_routes", "j", "[]"),
    "dns_nameservers": (P + "dns_nameservers", "j", None),
    "ipv6_ra_mode": (P + "ipv6_ra_mode", "s", None),
    "ipv6_address_mode": (P + "ipv6_address_mode", "s", None),
    "created_at": (P + "created_at", "s", EPOCH),
    "updated_at": (P + "updated_at", "s", EPOCH),
}
PORT_KEYS = {
    "name": ("ovirt_nic_name", "s", ""),
    "device_id": ("ovirt_device_id", "s", ""),
    "device_owner": ("ovirt_device_owner", "s", ""),
    "description": (P + "description", "s", ""),
    "tenant_id": (P + "tenant_id", "s", ""),
    "security_groups": (P + "security_groups", "j", "[]"),
    "profile": (P + "profile", "j", "{}"),
    "vnic_type": (P + "vnic_type", "s", "normal"),
    "created_at": (P + "created_at", "s", EPOCH),
    "updated_at": (P + "updated_at", "s", EPOCH),
}
SEQ = P + "seq"


def _decode(ext: dict, keys: dict) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for col, (key, kind, default) in keys.items():
        raw = ext.get(key)
        if raw is None:
            out[col] = default
        elif kind == "i":
            try:
                out[col] = int(raw)
            except ValueError:
                out[col] = default
        elif kind == "b":
            out[col] = int(raw.lower() == "true")
        else:
            out[col] = raw
    return out


def _encode(row: Any, keys: dict) -> dict[str, str]:
    ext = {}
    for col, (key, kind, _default) in keys.items():
        value = row[col]
        if value is None:
            continue
        ext[key] = ("true" if value else "false") if kind == "b" \
            else str(value)
    return ext


def one(value: Any) -> Any:
    """An optional OVSDB column's value (a list of 0 or 1 items)."""
    if isinstance(value, list):
        return value[0] if value else None
    return value


def seq(ext: dict) -> int | None:
    try:
        return int(ext[SEQ])
    except (KeyError, ValueError):
        return None


# NB -> mirror ------------------------------------------------------------
def port_uuids(ls: Any) -> list[uuid.UUID]:
    """The switch's ports column as UUIDs, undecoded: reading ``ls.ports``
    makes (and sorts) a Row per port, 20 ms for 2,000 ports per write."""
    return [atom.value for atom in ls._data["ports"].values]


def network_columns(ls: Any, localnet: Any) -> dict[str, Any]:
    """``localnet``: the switch's localnet port (row) or None."""
    ext = dict(ls.external_ids)
    cols = _decode(ext, NET_KEYS)
    cols["id"] = str(ls.uuid)
    if "ovirt_network_name" not in ext:
        cols["name"] = ls.name
    ntype = ext.get(P + "network_type")
    seg = ext.get(P + "segmentation_id")
    cols["physical_network"] = None
    cols["segmentation_id"] = int(seg) if seg and seg.isdigit() else None
    if localnet is not None:
        tag = one(localnet.tag)
        cols["physical_network"] = localnet.options.get("network_name")
        cols["segmentation_id"] = tag
        ntype = "vlan" if tag is not None else "flat"
    cols["network_type"] = ntype or "geneve"
    return cols


def _dns(options: dict) -> list[str]:
    raw = options.get("dns_server", "").strip("{}")
    return [s.strip() for s in raw.split(",") if s.strip()]


def subnet_columns(dhcp: Any) -> dict[str, Any]:
    ext, options = dict(dhcp.external_ids), dict(dhcp.options)
    cols = _decode(ext, SUB_KEYS)
    cols["id"] = str(dhcp.uuid)
    net = ipaddress.ip_network(dhcp.cidr, strict=False)
    cols["cidr"] = str(net)  # another provider may keep host bits (10.0.0.1/24)
    cols["ip_version"] = cols["ip_version"] or net.version
    gateway = ext.get(P + "gateway_ip", options.get("router"))
    cols["gateway_ip"] = gateway or None
    if cols["allocation_pools"] is None:
        cols["allocation_pools"] = json.dumps(
            ipam.default_pools(net, cols["gateway_ip"]))
    if cols["dns_nameservers"] is None:
        cols["dns_nameservers"] = json.dumps(_dns(options))
    return cols


def port_columns(lsp: Any, net_id: str) -> tuple[dict[str, Any], list[str]]:
    """The port's columns and its IP addresses, in order."""
    ext = dict(lsp.external_ids)
    cols = _decode(ext, PORT_KEYS)
    # The "MAC [IP...]" entry (OVSDB sorts a set: "unknown", "router" come after)
    words = next((a.split() for a in lsp.addresses if _MAC.match(a)), None)
    if words is None:
        raise ValueError(f"no MAC address in its addresses {list(lsp.addresses)}")
    if len(words) > 1 and words[1] == "dynamic":
        dyn = one(lsp.dynamic_addresses) or ""
        words = [words[0], *dyn.split()[1:]]
    chassis = lsp.options.get("requested-chassis", "")
    enabled = one(lsp.enabled)
    up = one(lsp.up) is True
    cols.update(
        id=lsp.name, network_id=net_id,
        mac_address=words[0].lower(),
        admin_state_up=int(enabled is not False),
        port_security_enabled=int(bool(lsp.port_security)),
        host_id=ext.get(P + "host_id", chassis.split(",")[-1]),
        ovn_up=int(up),
        status="ACTIVE" if up and enabled is not False else "DOWN")
    return cols, words[1:]


# mirror -> NB ------------------------------------------------------------
def write_network(txn: Any, tables: Any, net: Any, ls: Any, seqno: int,
                  localnet: Any = None) -> None:
    """Create or update the network's Logical_Switch and localnet port."""
    ext = _encode(net, NET_KEYS)
    ext[P + "network_type"] = net["network_type"]
    if net["segmentation_id"] is not None:
        ext[P + "segmentation_id"] = str(net["segmentation_id"])
    new = ls is None
    if new:
        ls = txn.insert(tables["Logical_Switch"], new_uuid=uuid.UUID(net["id"]),
                        persist_uuid=True)
        ext[SEQ] = str(seqno)
    else:
        old = dict(ls.external_ids)
        if SEQ in old:
            ext[SEQ] = old[SEQ]
        ext = {**{k: v for k, v in old.items()
                  if not k.startswith(P) and k not in ext}, **ext}
    ls.name = f"ovirt-{net['name']}-{net['id']}"
    ls.external_ids = ext
    other = {} if new else dict(ls.other_config)
    if net["network_type"] in TUNNEL_TYPES and net["segmentation_id"] is not None:
        other[TNL_KEY] = str(net["segmentation_id"])  # ovn-northd honours it: the id is real
    else:
        other.pop(TNL_KEY, None)  # ovn-northd chooses
    if new or other != dict(ls.other_config):
        ls.other_config = other
    if net["network_type"] in ("flat", "vlan"):
        if localnet is None:
            localnet = txn.insert(tables["Logical_Switch_Port"])
            localnet.name = LOCALNET_PREFIX + net["id"]
            localnet.type = "localnet"
            localnet.addresses = ["unknown"]
            if new:
                # With the insert: python-ovs before 3.2.6 / 3.3.9 names a
                # row inserted with a chosen UUID by a "named-uuid" the
                # insert never declared, so a mutation of it changed
                # nothing and the localnet port was dropped unreferenced.
                ls.ports = [localnet]
            else:
                ls.addvalue("ports", localnet)
        localnet.options = {"network_name": net["physical_network"]}
        localnet.tag = [] if net["network_type"] == "flat" \
            else [net["segmentation_id"]]
    elif localnet is not None:
        ls.delvalue("ports", localnet)
        localnet.delete()


def write_subnet(txn: Any, tables: Any, sub: Any, mtu: int, dhcp: Any,
                 seqno: int) -> None:
    ext = _encode(sub, SUB_KEYS)
    ext[P + "gateway_ip"] = sub["gateway_ip"] or ""
    net = ipaddress.ip_network(sub["cidr"])
    options = {"lease_time": LEASE_TIME, "mtu": str(mtu)}
    dns = json.loads(sub["dns_nameservers"])
    if dns:
        options["dns_server"] = "{" + ", ".join(dns) + "}"
    if net.version == 4:
        server = sub["gateway_ip"] or ipam.default_gateway(net) or \
            str(net.network_address)
        options.update(server_id=server, server_mac=SERVER_MAC)
        if sub["gateway_ip"]:
            options["router"] = sub["gateway_ip"]
        routes = json.loads(sub["host_routes"])
        if routes:
            pairs = [f"{r['destination']},{r['nexthop']}" for r in routes]
            if sub["gateway_ip"]:  # RFC 3442 clients ignore "router"
                pairs.append(f"0.0.0.0/0,{sub['gateway_ip']}")
            options["classless_static_route"] = "{" + ", ".join(pairs) + "}"
    else:
        options = {"server_id": SERVER_MAC, **({"dns_server": options[
            "dns_server"]} if "dns_server" in options else {})}
    if dhcp is None:
        dhcp = txn.insert(tables["DHCP_Options"], new_uuid=uuid.UUID(sub["id"]),
                          persist_uuid=True)
        ext[SEQ] = str(seqno)
    elif SEQ in dhcp.external_ids:
        ext[SEQ] = dhcp.external_ids[SEQ]
    dhcp.cidr = sub["cidr"]
    dhcp.options = options
    dhcp.external_ids = ext


def requested_chassis(current: str, host: str, running: bool
                      ) -> tuple[str, bool]:
    """(requested-chassis, multi-chassis?) for a port bound to ``current``
    (OVN's option as it is) that the API now binds to ``host``.

    A move of a running port (live migration: the VM still runs on the
    source) keeps the source as main chassis and adds the destination with
    activation-strategy=rarp; binding it to the destination again (after
    the switch-over) narrows to the destination. Never back to the source
    alone while multi-bound unless the API names the source.
    """
    chassis = [c for c in current.split(",") if c]
    if not host:
        return "", False
    if chassis and host in chassis:
        return host, False  # narrow, or unchanged
    if running and chassis:
        return f"{chassis[0]},{host}", True
    return host, False


def write_port(txn: Any, tables: Any, port: Any, ips: list[str],
               dhcp: dict[int, Any], ls: Any, lsp: Any,
               seqno: int) -> None:
    ext = _encode(port, PORT_KEYS)
    ext[P + "host_id"] = port["host_id"]
    lsp_is_new = lsp is None
    if lsp is None:
        lsp = txn.insert(tables["Logical_Switch_Port"])
        lsp.name = port["id"]
        ls.addvalue("ports", lsp)
        ext[SEQ] = str(seqno)
        options: dict = {}
        running = False
    else:
        old = dict(lsp.external_ids)
        if SEQ in old:
            ext[SEQ] = old[SEQ]
        ext = {**{k: v for k, v in old.items()
                  if not k.startswith(P) and k not in ext}, **ext}
        options = dict(lsp.options)
        running = one(lsp.up) is True
    if lsp_is_new or port["rebound"]:  # else the chassis stay as OVN has them
        chassis, multi = requested_chassis(options.get("requested-chassis", ""),
                                           port["host_id"], running)
        if chassis:
            options["requested-chassis"] = chassis
        else:
            options.pop("requested-chassis", None)
        if multi:
            options["activation-strategy"] = "rarp"
        else:
            options.pop("activation-strategy", None)
    words = " ".join([port["mac_address"], *ips])
    lsp.addresses = [words]
    lsp.port_security = [words] if port["port_security_enabled"] else []
    lsp.enabled = [bool(port["admin_state_up"])]
    lsp.options = options
    lsp.external_ids = ext
    lsp.dhcpv4_options = [dhcp[4]] if dhcp.get(4) is not None else []
    lsp.dhcpv6_options = [dhcp[6]] if dhcp.get(6) is not None else []

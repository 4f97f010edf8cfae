"""Mapping between API attributes and SQLite columns, and list filters.

Shared by store.py and ports.py.  Filters become ``col IN (?, ...)`` on
indexed columns so a port lookup by device_id is an index search, not a
table scan.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timezone
from typing import Any

from . import validation
from .errors import BadRequest, InvalidInput

# API attribute -> (column, kind); kind: "bool", "json" or "" (as is).
COLUMNS: dict[str, dict[str, tuple[str, str]]] = {
    "network": {
        "id": ("id", ""), "name": ("name", ""),
        "description": ("description", ""), "tenant_id": ("tenant_id", ""),
        "admin_state_up": ("admin_state_up", "bool"),
        "shared": ("shared", "bool"), "mtu": ("mtu", ""),
        "port_security_enabled": ("port_security_enabled", "bool"),
        "provider:network_type": ("network_type", ""),
        "provider:physical_network": ("physical_network", ""),
        "provider:segmentation_id": ("segmentation_id", ""),
        "vif_driver:bridge_name": ("bridge_name", ""),
        "created_at": ("created_at", ""), "updated_at": ("updated_at", "")},
    "subnet": {
        "id": ("id", ""), "network_id": ("network_id", ""),
        "name": ("name", ""), "description": ("description", ""),
        "tenant_id": ("tenant_id", ""), "cidr": ("cidr", ""),
        "ip_version": ("ip_version", ""), "gateway_ip": ("gateway_ip", ""),
        "enable_dhcp": ("enable_dhcp", "bool"),
        "dns_nameservers": ("dns_nameservers", "json"),
        "allocation_pools": ("allocation_pools", "json"),
        "host_routes": ("host_routes", "json"),
        "ipv6_ra_mode": ("ipv6_ra_mode", ""),
        "ipv6_address_mode": ("ipv6_address_mode", ""),
        "created_at": ("created_at", ""), "updated_at": ("updated_at", "")},
    "port": {
        "id": ("id", ""), "network_id": ("network_id", ""),
        "name": ("name", ""), "description": ("description", ""),
        "tenant_id": ("tenant_id", ""), "mac_address": ("mac_address", ""),
        "admin_state_up": ("admin_state_up", "bool"),
        "status": ("status", ""), "device_id": ("device_id", ""),
        "device_owner": ("device_owner", ""),
        "security_groups": ("security_groups", "json"),
        "port_security_enabled": ("port_security_enabled", "bool"),
        "binding:host_id": ("host_id", ""),
        "binding:profile": ("profile", "json"),
        "binding:vnic_type": ("vnic_type", ""),
        "created_at": ("created_at", ""), "updated_at": ("updated_at", "")},
}
TABLES = {"network": "networks", "subnet": "subnets", "port": "ports"}
SEGMENT_KEYS = ("provider:network_type", "provider:physical_network",
                "provider:segmentation_id")


def now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def to_row(resource: str, attrs: dict) -> dict[str, Any]:
    """API attributes -> column values (JSON-encode lists and dicts)."""
    out = {}
    for attr, value in attrs.items():
        col, kind = COLUMNS[resource][attr]
        out[col] = json.dumps(value) if kind == "json" else value
    return out


def from_row(resource: str, row: sqlite3.Row) -> dict[str, Any]:
    out = {}
    for attr, (col, kind) in COLUMNS[resource].items():
        v = row[col]
        out[attr] = (json.loads(v) if kind == "json"
                     else bool(v) if kind == "bool" else v)
    out["project_id"] = out["tenant_id"]
    return out


def filter_sql(resource: str, filters: dict[str, list[str]],
               alias: str = "") -> tuple[str, list]:
    """Query-string filters -> WHERE clause; repeated keys are ORed (IN)."""
    clauses, args = [], []
    prefix = alias + "." if alias else ""
    for key, values in filters.items():
        if key == "project_id":
            key = "tenant_id"
        if resource == "port" and key == "fixed_ips":
            for v in values:
                k, _, val = v.partition("=")
                if k not in ("ip_address", "subnet_id") or not val:
                    raise BadRequest(f"Bad fixed_ips filter '{v}': use "
                                     "ip_address=IP or subnet_id=ID")
                if k == "ip_address":
                    val = validation.ip("fixed_ips", val)
                clauses.append(f"{prefix}id IN (SELECT port_id FROM fixed_ips"
                               f" WHERE {k} = ?)")
                args.append(val)
            continue
        spec = COLUMNS[resource].get(key)
        if spec is None or spec[1] == "json":
            raise BadRequest(f"Unsupported filter '{key}' for {resource}s")
        col, kind = spec
        conv = [_filter_value(key, kind, v, resource) for v in values]
        clauses.append(f"{prefix}{col} IN ({','.join('?' * len(conv))})")
        args.extend(conv)
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", args


def _filter_value(key: str, kind: str, v: str, resource: str) -> Any:
    if kind == "bool":
        return int(validation._bool(key, v))
    if key in ("mtu", "ip_version", "provider:segmentation_id"):
        try:
            return int(v)
        except ValueError:
            raise InvalidInput(f"'{v}' is not an integer for {key}.") from None
    if key == "mac_address":
        return v.lower().replace("-", ":")
    return v

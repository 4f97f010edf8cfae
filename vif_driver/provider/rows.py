"""Mapping between API attributes and SQLite columns, and list filters.

Shared by store.py and ports.py.  Filters become ``col IN (?, ...)`` on
indexed columns so a port lookup by device_id is an index search, not a
table scan.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
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
# SQLite's INTEGER is 64-bit: sqlite3 raises OverflowError beyond it.
INT64 = (-2**63, 2**63 - 1)
# LIMIT asks one row more than the page (page_sql), which must stay int64.
MAX_LIMIT = INT64[1] - 1


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
        for v in values:
            validation.check_text(key, v)
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
            n = int(v)
        except ValueError:
            raise InvalidInput(f"'{v}' is not an integer for {key}.") from None
        if not INT64[0] <= n <= INT64[1]:
            raise InvalidInput(f"{key} is out of range; use an integer "
                               f"from {INT64[0]} to {INT64[1]}.")
        return n
    if key == "mac_address":
        return v.lower().replace("-", ":")
    return v


PAGING_KEYS = ("limit", "marker", "page_reverse", "sort_key", "sort_dir")


@dataclass
class Page:
    """Neutron's sorting and pagination query keys, checked.

    ``sort`` is (column, descending) pairs; the table's rowid always ends
    the order (creation order, and unique), so pages never skip or repeat
    an item even when sort keys tie.
    """

    sort: list[tuple[str, bool]] = field(default_factory=list)
    limit: int | None = None
    marker: str | None = None
    reverse: bool = False

    @property
    def paged(self) -> bool:
        return self.limit is not None


def parse_page(resource: str, args: dict[str, list[str]]) -> Page:
    """Pop the paging keys out of ``args`` (the remaining ones filter)."""
    got = {k: args.pop(k) for k in PAGING_KEYS if k in args}
    page = Page()
    if "limit" in got:
        raw = got["limit"][-1]
        try:
            page.limit = int(raw)
        except ValueError:
            page.limit = -1
        if not 0 <= page.limit <= MAX_LIMIT:
            raise BadRequest(f"Bad limit '{raw}': use an integer from 0 "
                             f"(no limit) to {MAX_LIMIT}")
        page.limit = page.limit or None
    if "marker" in got:
        page.marker = got["marker"][-1]
    if "page_reverse" in got:
        page.reverse = validation._bool("page_reverse",
                                        got["page_reverse"][-1])
    keys, dirs = got.get("sort_key", []), got.get("sort_dir", [])
    if dirs and len(dirs) != len(keys):
        raise BadRequest("The number of sort_keys and sort_dirs must be the "
                         f"same (got {len(keys)} and {len(dirs)})")
    for i, key in enumerate(keys):
        spec = COLUMNS[resource].get("tenant_id" if key == "project_id"
                                     else key)
        if spec is None or spec[1] == "json":
            allowed = sorted(a for a, (_, kind) in COLUMNS[resource].items()
                             if kind != "json")
            raise BadRequest(f"Bad sort_key '{key}' for {resource}s; "
                             f"allowed: {', '.join(allowed)}")
        direction = dirs[i] if dirs else "asc"
        if direction not in ("asc", "desc"):
            raise BadRequest(f"Bad sort_dir '{direction}': use asc or desc")
        page.sort.append((spec[0], direction == "desc"))
    return page


def page_sql(page: Page, marker_row: sqlite3.Row | None, prefix: str = ""
             ) -> tuple[str, list, str]:
    """(extra WHERE condition or "", its args, ORDER BY ... LIMIT ...).

    The condition keeps rows strictly after the marker in the walking
    order (the reverse order for page_reverse); SQLite puts NULL first in
    ascending order, which the comparisons follow.  LIMIT asks one row
    more than the page so the caller knows whether another page follows.
    """
    keys = [(f"{prefix}{col}", desc != page.reverse, col)
            for col, desc in page.sort]
    keys.append((f"{prefix}rowid", page.reverse, "rowid"))
    order = " ORDER BY " + ", ".join(f"{c}{' DESC' if d else ''}"
                                     for c, d, _ in keys)
    if page.limit is not None:
        order += f" LIMIT {page.limit + 1}"
    if marker_row is None:
        return "", [], order
    ors, args = [], []
    for i, (col, desc, name) in enumerate(keys):
        ands = []
        for prev_col, _, prev_name in keys[:i]:
            ands.append(f"{prev_col} IS ?")
            args.append(marker_row[prev_name])
        value = marker_row[name]
        if value is None:
            ands.append("0" if desc else f"{col} IS NOT NULL")
        else:
            ands.append(f"({col} < ? OR {col} IS NULL)" if desc
                        else f"{col} > ?")
            args.append(value)
        ors.append("(" + " AND ".join(ands) + ")")
    return "(" + " OR ".join(ors) + ")", args, order


def cut_page(page: Page, items: list) -> tuple[list, bool]:
    """The page's items in display order, and whether more lie beyond."""
    more = page.limit is not None and len(items) > page.limit
    if more:
        items = items[:page.limit]
    if page.reverse:
        items.reverse()
    return items, more

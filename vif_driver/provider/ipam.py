"""IP address arithmetic for subnets: default pools and sortable keys.

Addresses are stored with a fixed-width hex *key* so that SQLite can order
and range-scan IPv4 and IPv6 addresses alike through one unique index on
(subnet_id, ip_key); that keeps allocation O(log n) instead of loading every
used address of a subnet.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Union

# typing.Union, not `|`: these aliases are evaluated at import (Python 3.9).
IPAddress = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]
IPNetwork = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]


def ip_key(ip: IPAddress | int) -> str:
    """32 hex digits: orders like the address, for v4 and v6 alike."""
    return format(int(ip), "032x")


def key_to_int(key: str) -> int:
    return int(key, 16)


def usable_range(net: IPNetwork) -> tuple[int, int]:
    """First and last address a port may get (no network/broadcast in v4).

    IPv6 keeps the last address (no broadcast) but not the subnet-router
    anycast address (the first), as Neutron does.
    """
    first, last = int(net.network_address), int(net.broadcast_address)
    if net.version == 4 and net.prefixlen < 31:
        return first + 1, last - 1
    if net.version == 6 and net.prefixlen < 127:
        return first + 1, last
    return first, last


def default_gateway(net: IPNetwork) -> str | None:
    lo, hi = usable_range(net)
    return str(ipaddress.ip_address(lo)) if lo <= hi else None


def default_pools(net: IPNetwork, gateway: str | None) -> list[dict]:
    """The whole usable range minus the gateway, split around it."""
    lo, hi = usable_range(net)
    if lo > hi:
        return []
    ranges = [(lo, hi)]
    if gateway is not None:
        gw = int(ipaddress.ip_address(gateway))
        if lo <= gw <= hi:
            ranges = [(a, b) for a, b in ((lo, gw - 1), (gw + 1, hi))
                      if a <= b]
    cls = ipaddress.IPv4Address if net.version == 4 else ipaddress.IPv6Address
    return [{"start": str(cls(a)), "end": str(cls(b))} for a, b in ranges]


def pool_bounds(pools: Iterable[dict]) -> list[tuple[int, int]]:
    return [(int(ipaddress.ip_address(p["start"])),
             int(ipaddress.ip_address(p["end"]))) for p in pools]


def to_address(value: int, version: int) -> str:
    cls = ipaddress.IPv4Address if version == 4 else ipaddress.IPv6Address
    return str(cls(value))

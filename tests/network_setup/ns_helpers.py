"""Helpers of the network-setup tests: VDSM's request and running config."""

from __future__ import annotations

import json
import os

OPTIONS = {"connectivityCheck": "true", "connectivityTimeout": 120, "commitOnSuccess": True}
ROLLBACK = {"_inRollback": True, "connectivityCheck": 0}


def net(nic=None, *, bonding=None, vlan=None, bridged=False, ipaddr=None, mtu=1500, custom=None) -> dict:
    """A network as VDSM canonicalizes it (defaults filled)."""
    attrs = {"bridged": bridged, "bootproto": "none" if ipaddr else "none", "mtu": mtu, "switch": "legacy",
             "defaultRoute": False, "dhcpv6": False, "ipv6autoconf": False, "nameservers": []}
    if nic:
        attrs["nic"] = nic
    if bonding:
        attrs["bonding"] = bonding
    if vlan is not None:
        attrs["vlan"] = vlan
    if bridged:
        attrs["stp"] = False
    if ipaddr:
        attrs.update(ipaddr=ipaddr, netmask="255.255.255.0")
    if custom:
        attrs["custom"] = custom
    return attrs


def bond(*nics, mode="mode=4 miimon=100") -> dict:
    return {"nics": list(nics), "options": mode, "switch": "legacy"}


REMOVE = {"remove": True}


def request(networks=None, bondings=None, options=None) -> dict:
    return {"request": {"networks": networks or {}, "bondings": bondings or {},
                        "options": dict(OPTIONS if options is None else options)}}


def write_running(directory: str, networks: dict, bondings: dict | None = None) -> None:
    """VDSM's RunningConfig: nets/NAME, bonds/NAME JSON files."""
    for kind, items in (("nets", networks), ("bonds", bondings or {})):
        os.makedirs(os.path.join(directory, kind), exist_ok=True)
        for name, attrs in items.items():
            with open(os.path.join(directory, kind, name), "w", encoding="utf-8") as f:
                json.dump(attrs, f)
    os.makedirs(os.path.join(directory, "devices"), exist_ok=True)


def one_line(run) -> str:
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, run.stderr
    assert len(lines[0]) <= 240, lines[0]
    return lines[0]

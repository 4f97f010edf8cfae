"""Caps and stats of the bridges this driver manages, from one snapshot of
the namespace's links (view.py: taken per request in a hook process, kept
fresh by the resident agent)."""

from __future__ import annotations

import os

from vif_driver.core.netlink import Link
from vif_driver.drivers.linux_bridge import naming, view

SPEED = "1000"  # Mbps, what VDSM reports for devices without a link speed
_KEYS = ("rx", "tx", "rxErrors", "txErrors", "rxDropped", "txDropped")  # VDSM's names of netlink.COUNTERS
_ZERO = (0,) * len(_KEYS)


def _managed(links: list[Link], configured: str | None) -> dict[int, tuple]:
    """index -> (bridge, parsed mark or None) of the bridges this driver serves:
    the ones it marked, plus the host config's default bridge."""
    found = {}
    for link in links:
        if link.kind != "bridge":
            continue
        mark = naming.parse_alias(link.alias)
        if (mark and mark[0] == "bridge") or link.name == configured:
            found[link.index] = (link, mark)
    return found


def _ports(links: list[Link], managed: dict[int, tuple]) -> list[Link]:
    """The ports of the managed bridges, the driver's own VLAN devices excepted."""
    uplinks = {mark[3] for _bridge, mark in managed.values() if mark}
    return [link for link in links if link.master in managed and link.name not in uplinks]


def collect_stats(stats: dict, *, namespace, timeout: float, configured: str | None) -> int:
    """Add VDSM-shaped counters of every port of a managed bridge (the
    driver's own VLAN devices excepted) that ``stats['network']`` lacks;
    returns how many. VDSM's own entry of a device stands (its sample of
    the same kernel counters). sampleTime is when the snapshot was taken."""
    snap = view.snapshot(namespace, timeout)
    entries = snap.memo.get(("stats", configured))
    if entries is None:  # once per snapshot: the agent serves many polls from one
        managed = _managed(snap.value, configured)
        entries = snap.memo[("stats", configured)] = [
            (port.name, {"name": port.name, "speed": SPEED, "duplex": "unknown",
                         "state": "up" if port.running else "down",
                         **dict(zip(_KEYS, map(str, port.stats or _ZERO))), "sampleTime": snap.taken})
            for port in _ports(snap.value, managed)]
    network = stats.get("network")
    if not isinstance(network, dict):
        network = {}
    missing = [(name, entry) for name, entry in entries if not isinstance(network.get(name), dict)]
    if missing:
        stats["network"] = network
        network.update((name, dict(entry)) for name, entry in missing)
    return len(missing)


def collect_caps(caps: dict, section: dict, *, namespace, timeout: float, configured: str | None,
                 mappings: dict[str, str], plugin_types) -> dict | None:
    """Add the physical network mappings and the managed bridges to this
    driver's ``section`` of caps, and the host id the provider binds ports
    to under caps['openstack_binding_host_ids'][plugin_type] — the latter
    only when the backend is set up (a mapped interface exists, or the
    configured bridge does); returns None when it is not."""
    snap = view.snapshot(namespace, timeout)
    names = {link.name for link in snap.value}
    managed = _managed(snap.value, configured)
    usable = sorted(physnet for physnet, interface in mappings.items() if interface in names)
    counts: dict[int, int] = {}
    for port in _ports(snap.value, managed):
        counts[port.master] = counts.get(port.master, 0) + 1
    bridges = {}
    for index, (bridge, mark) in sorted(managed.items(), key=lambda item: item[1][0].name):
        entry = {"ports": counts.get(index, 0), "managed": mark is not None}
        if mark:
            entry.update(physical_network=mark[1], segmentation_id=int(mark[2]), uplink=mark[3])
        bridges[bridge.name] = entry
    section.update(plugin_types=sorted(plugin_types), physical_interface_mappings=dict(mappings),
                   bridges=bridges)
    has_bridge = any(bridge.name == configured for bridge, _mark in managed.values())
    if not usable and not has_bridge:
        return None  # nothing set up: the host must not claim it can bind these networks
    host_ids = caps.setdefault("openstack_binding_host_ids", {})
    for plugin_type in plugin_types:
        host_ids.setdefault(plugin_type, os.uname().nodename)
    return caps

"""Caps and stats of the bridges this driver manages, read straight from
netlink without pyroute2: a stats poll runs every few seconds per host."""

import os
import time

from vif_driver.drivers.linux_bridge import naming, rtnl

SPEED = "1000"  # Mbps, what VDSM reports for devices without a link speed


def _socket(namespace, timeout: float) -> rtnl.Rtnl:
    from vif_driver.core.netns import call_in
    return call_in(namespace, rtnl.Rtnl, timeout)


def _managed(bridges, configured: "str | None") -> "dict[int, tuple]":
    """index -> (bridge, parsed mark or None) of the bridges this driver serves:
    the ones it marked, plus the host config's default bridge."""
    found = {}
    for bridge in bridges:
        mark = naming.parse_alias(bridge.alias)
        if (mark and mark[0] == "bridge") or bridge.name == configured:
            found[bridge.index] = (bridge, mark)
    return found


def collect_stats(stats: dict, *, namespace, timeout: float, configured: "str | None") -> dict:
    """Add VDSM-shaped counters of every port of a managed bridge (the
    driver's own VLAN devices excepted) to ``stats['network']``. Three
    netlink dumps, whatever the number of taps: bridges, bridge ports, and
    counters (RTM_GETSTATS carries nothing but counters)."""
    with _socket(namespace, timeout) as nl:
        managed = _managed(nl.dump(kind="bridge"), configured)
        if not managed:
            return stats
        uplinks = {mark[3] for _bridge, mark in managed.values() if mark}
        ports = [p for p in nl.bridge_ports() if p[2] in managed and p[1] not in uplinks]
        counters = nl.counters() if ports else {}
    now = time.time()
    network = stats.setdefault("network", {})
    zero = (0,) * 8
    for index, name, _master, operstate, flags in ports:
        _rxp, _txp, rx, tx, rx_errors, tx_errors, rx_dropped, tx_dropped = counters.get(index) or zero
        up = operstate == 6 or (operstate == 0 and flags & 1)  # IF_OPER_UP, or unknown but IFF_UP
        network[name] = {
            "name": name, "speed": SPEED, "state": "up" if up else "down",
            "rx": str(rx), "tx": str(tx), "rxErrors": str(rx_errors), "txErrors": str(tx_errors),
            "rxDropped": str(rx_dropped), "txDropped": str(tx_dropped), "sampleTime": now,
        }
    return stats


def collect_caps(caps: dict, section: dict, *, namespace, timeout: float, configured: "str | None",
                 mappings: "dict[str, str]", plugin_types) -> dict:
    """Add the physical network mappings and the managed bridges to this
    driver's ``section`` of caps, and the host id the provider binds ports
    to under caps['openstack_binding_host_ids'][plugin_type] — the latter
    only when the backend is set up (a mapped interface exists, or the
    configured bridge does); returns None when it is not."""
    bridges = {}
    with _socket(namespace, timeout) as nl:
        managed = _managed(nl.dump(kind="bridge"), configured)
        usable = sorted(physnet for physnet, interface in mappings.items() if nl.get(interface) is not None)
        uplinks = {mark[3] for _bridge, mark in managed.values() if mark}
        counts: "dict[int, int]" = {}
        for _index, name, master, _state, _flags in nl.bridge_ports():
            if master in managed and name not in uplinks:
                counts[master] = counts.get(master, 0) + 1
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

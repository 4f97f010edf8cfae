"""What the Linux bridge driver's networks depend on right now: each
mapped physnet interface, with the VLAN devices the driver made on it
(its ownership marks), the vNICs on their bridges and the largest MTU
among them (the interface must carry it). An interface without any is
reported too (no VLANs, no users): nothing is refused for it, but the
network-setup gate watches it, so the next plug's VLANs are guarded."""

from __future__ import annotations

from typing import Any

from vif_driver.api import HookContext, HostError, Underlay
from vif_driver.drivers.linux_bridge import naming


def mappings(options) -> dict[str, str]:
    """physnet -> interface: the config's, then underlay=physnet:NAME
    networks of VDSM (vif_driver.core.underlay_state), which win."""
    from vif_driver.core import underlay_state
    merged = dict(options["physical_interface_mappings"])
    merged.update(underlay_state.physnet_devices())  # the process's own environment, never a vNIC's
    return merged


def collect(ctx: HookContext) -> list[Underlay]:
    from vif_driver.drivers.linux_bridge import netlink
    options: Any = ctx.options
    mapped = mappings(options)
    if not mapped:
        return []
    try:
        links = netlink.run(lambda nl: nl.links(), namespace=options["netns"], timeout=ctx.timeout,
                            action="list the network devices")
    except netlink.NetlinkFailure as e:
        raise HostError(netlink.explain(e, "list the network devices")) from None
    bridges: dict[str, dict[int, tuple[str, str]]] = {}  # physnet -> {index: (name, vlan)}
    uplinks: dict[tuple[str, int], Any] = {}  # (physnet, vlan id) -> Link
    for link in links:
        mark = naming.parse_alias(link.alias)
        if mark is None:
            continue
        role, physnet, segment = mark[0], mark[1], mark[2]
        if role == "bridge":
            bridges.setdefault(physnet, {})[link.index] = (link.name, segment)
        elif segment.isdigit():
            uplinks[(physnet, int(segment))] = link
    found = []
    for physnet, interface in sorted(mapped.items()):
        mine = bridges.get(physnet, {})
        vlans: dict[int, str] = {}
        users = 0
        mtu = None
        for (net, vlan), uplink in sorted(uplinks.items()):
            if net != physnet:
                continue
            bridge = next((name for name, v in mine.values() if v == str(vlan)), None)
            taps = sum(1 for link in links if bridge and link.master in mine and mine[link.master][0] == bridge
                       and link.name != uplink.name)
            users += taps
            mtu = max(mtu or 0, uplink.mtu or 0) or None
            vlans[vlan] = (f"external network {physnet}/{vlan} uses it (bridge {bridge or '?'}, "
                           f"{taps} vNIC{'' if taps == 1 else 's'})")
        count = f"{len(vlans)} VLAN{'' if len(vlans) == 1 else 's'}"
        found.append(Underlay(interface, "physnet", physnet, f"linux_bridge physnet {physnet} ({count})",
                              users=users, mtu=mtu, vlans=vlans))
    return found

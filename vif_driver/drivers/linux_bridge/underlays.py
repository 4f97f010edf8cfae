"""What the Linux bridge driver's networks depend on right now: each
mapped physnet interface, with the VLAN devices the driver made on it
(its ownership marks), the vNICs on their bridges and the largest MTU
among them (the interface must carry it). An interface without any is
reported too (no VLANs, no users): nothing is refused for it, but the
network-setup gate watches it, so the next plug's VLANs are guarded."""

from __future__ import annotations

from typing import Any, Callable

from vif_driver.api import HookContext, Underlay
from vif_driver.core import validate
from vif_driver.drivers.linux_bridge import naming


def mappings(options, warn: Callable[[str], None] | None = None) -> dict[str, str]:
    """physnet -> interface: the config's, then underlay=physnet:NAME
    networks of VDSM (vif_driver.core.underlay_state), which win. One
    physical network per interface, as the config parser demands of the
    config alone: a config mapping of an underlay's device to another
    physnet, or a second underlay physnet on one device, is left out with
    one ``warn`` line each."""
    merged, _ignored = merge(options["physical_interface_mappings"], warn)
    return merged


def merge(config: dict[str, str], warn: Callable[[str], None] | None = None,
          recorded: dict | None = None) -> tuple[dict[str, str], dict[str, str]]:
    """(mappings, physnet -> interface of the mappings left out)."""
    from vif_driver.core import underlay_state
    if recorded is None:  # the process's own environment, never a vNIC's
        recorded = underlay_state.load().get("physnets") or {}
    say = warn or (lambda text: None)
    merged: dict[str, str] = {}
    owner: dict[str, str] = {}  # interface -> the underlay physnet on it
    ignored: dict[str, str] = {}
    for physnet, entry in sorted(recorded.items() if isinstance(recorded, dict) else ()):
        found = entry.get("device") if isinstance(entry, dict) else None
        network = entry.get("network") if isinstance(entry, dict) else None
        try:
            validate.physnet(physnet)
            device = validate.ifname(found if isinstance(found, str) else "")
        except ValueError as e:
            say(f"underlay=physnet:{physnet} of network {network} ignored: {e}")
            continue
        if device in owner:
            ignored[physnet] = device
            say(f"underlay=physnet:{physnet} of network {network} ignored: {device} carries "
                f"underlay=physnet:{owner[device]}; one physnet per interface")
            continue
        merged[physnet], owner[device] = device, physnet
    for physnet, interface in config.items():
        if physnet in merged:
            continue  # the underlay's device wins
        if interface in owner:
            ignored[physnet] = interface
            network = recorded[owner[interface]].get("network")
            say(f"{physnet}:{interface} of physical_interface_mappings ignored: {interface} carries "
                f"underlay=physnet:{owner[interface]} (network {network}); one physnet per interface")
            continue
        merged[physnet] = interface
    return merged, ignored


def collect(ctx: HookContext) -> list[Underlay]:
    """One netlink dump of the driver's namespace's links."""
    from vif_driver.core import netlink
    options: Any = ctx.options
    # Guarded: every physnet mapped to an interface, a left-out one included
    # (vNICs may still run on it).
    merged, ignored = merge(options["physical_interface_mappings"])
    mapped = list(merged.items()) + list(ignored.items())
    if not mapped:
        return []
    links = netlink.run(lambda session: session.links(), namespace=options["netns"], timeout=ctx.timeout,
                        action="list the physnet interfaces' VLANs")
    bridges: dict[str, dict[int, str]] = {}  # physnet -> {bridge index: vlan}
    uplinks: dict[tuple[str, int], netlink.Link] = {}  # (physnet, vlan id) -> link
    names = {link.index: link.name for link in links}
    for link in links:
        mark = naming.parse_alias(link.alias)
        if mark is None:
            continue
        role, physnet, segment = mark[0], mark[1], mark[2]
        if role == "bridge":
            bridges.setdefault(physnet, {})[link.index] = segment
        elif segment.isdigit():
            uplinks[(physnet, int(segment))] = link
    found = []
    for physnet, interface in sorted(mapped):
        mine = bridges.get(physnet, {})
        vlans: dict[int, str] = {}
        users = 0
        mtu = None
        for (net, vlan), uplink in sorted(uplinks.items()):
            if net != physnet:
                continue
            index = next((i for i, v in mine.items() if v == str(vlan)), None)
            bridge = names.get(index) if index is not None else None
            taps = sum(1 for link in links if index is not None and link.master == index
                       and link.index != uplink.index)
            users += taps
            mtu = max(mtu or 0, int(uplink.mtu or 0)) or None
            vlans[vlan] = (f"external network {physnet}/{vlan} uses it (bridge {bridge or '?'}, "
                           f"{taps} vNIC{'' if taps == 1 else 's'})")
        count = f"{len(vlans)} VLAN{'' if len(vlans) == 1 else 's'}"
        found.append(Underlay(interface, "physnet", physnet, f"linux_bridge physnet {physnet} ({count})",
                              users=users, mtu=mtu, vlans=vlans))
    return found

"""What the OVS driver's networks depend on in the host network, and the
``underlay=tunnel`` network property applied.

- The tunnel endpoint: the device holding ``Open_vSwitch
  external_ids:ovn-encap-ip`` on an OVN chassis; the vNICs on the
  integration bridge use it, and it must carry their MTU plus the
  encapsulation's overhead (Geneve 58 bytes).
- The NICs (system ports) of the bridges physical networks are mapped to:
  ``bridge_mappings`` of [driver:ovs] and ``external_ids:ovn-bridge-mappings``.

Addresses are read over netlink (vif_driver.core.netlink) in the
driver's ``netns`` (the host's own namespace on a real host).
"""

from __future__ import annotations

from typing import Any

from vif_driver.api import HookContext, HostError, Underlay

OVERHEAD = {"geneve": 58, "vxlan": 50, "stt": 78}  # bytes an encapsulated frame grows by (IPv4)
NEED = {"Open_vSwitch": ["external_ids"], "Bridge": ["name", "ports"], "Port": ["name", "interfaces"],
        "Interface": ["name", "type", "mtu", "external_ids", "link_state"]}


def _switch(tables) -> dict:
    """external_ids of Open_vSwitch, and per bridge: its system ports and vNICs (iface-id) with MTUs."""
    rows = list(tables["Open_vSwitch"].rows.values())
    ids = dict(rows[0].external_ids) if rows else {}
    bridges = {}
    for bridge in tables["Bridge"].rows.values():
        nics, vnics = [], []
        for port in bridge.ports:
            for iface in port.interfaces:
                if iface.external_ids.get("iface-id"):
                    vnics.append(iface.mtu[0] if iface.mtu else None)
                elif iface.type == "" and iface.name != bridge.name:
                    nics.append(iface.name)
        bridges[bridge.name] = {"nics": sorted(nics), "vnics": vnics}
    return {"ids": ids, "bridges": bridges}


def _addresses(netns: str | None, timeout: float) -> dict[str, str]:
    """address -> the device holding it."""
    from vif_driver.core.underlay_state import host_devices
    return host_devices(netns, timeout)[1]


def _mappings(value: str | None) -> dict[str, str]:
    found = {}
    for item in (value or "").split(","):
        physnet, _, bridge = item.strip().partition(":")
        if physnet and bridge:
            found[physnet] = bridge
    return found


def collect(db, ctx: HookContext) -> list[Underlay]:
    options: Any = ctx.options
    state = db.read(_switch, "external_ids, bridges, ports, interfaces (network setup)", NEED)
    ids, bridges = state["ids"], state["bridges"]
    found = []
    integration = bridges.get(ctx.options["bridge"], {"vnics": []})
    encap = [ip.strip() for ip in (ids.get("ovn-encap-ip") or "").split(",") if ip.strip()]
    if encap and ids.get("ovn-remote"):
        held = _addresses(options["netns"], ctx.timeout)
        kind = (ids.get("ovn-encap-type") or "geneve").split(",")[0].strip()
        mtus = [m for m in integration["vnics"] if m]
        need = max(mtus) + OVERHEAD.get(kind, 58) if mtus else None
        for ip in encap:
            device = held.get(ip)
            if device:
                found.append(Underlay(device, "tunnel", "ovn-encap-ip",
                                      f"tunnel endpoint {ip} (ovn-encap-ip)", address=ip,
                                      users=len(integration["vnics"]), mtu=need))
            else:
                ctx.warn(f"ovn-encap-ip {ip} is on no device of this host: the tunnels are down; give a "
                         "network the custom property underlay=tunnel")
    physnets = dict(_mappings(ids.get("ovn-bridge-mappings")))
    physnets.update(options["bridge_mappings"])
    for physnet, bridge in sorted(physnets.items()):
        info = bridges.get(bridge)
        if info is None:
            continue
        users = len(info["vnics"]) if bridge != ctx.options["bridge"] else 0
        for nic in info["nics"]:
            found.append(Underlay(nic, "physnet", physnet, f"physnet {physnet} (OVS bridge {bridge})",
                                  users=users or len(integration["vnics"])))
    return found


def apply_tunnel(db, setup, ctx: HookContext) -> None:
    """after_network_setup: the network given underlay=tunnel in this
    request holds the tunnel endpoint now; point ovn-encap-ip at its address."""
    nets = [n for n, v in setup.underlay_requests().items() if v == "tunnel"]
    if not nets:
        return
    net = nets[0]
    address = setup.address(net)
    if not address:
        ctx.warn(f"network '{net}' has underlay=tunnel but no static address (DHCP?): ovn-encap-ip not "
                 "changed; give it a static address")
        return
    state = db.read(_switch, "Open_vSwitch external_ids (network setup)", NEED)
    ids = state["ids"]
    if not ids.get("ovn-remote"):
        ctx.warn(f"network '{net}' has underlay=tunnel but this host is no OVN chassis (no "
                 "external_ids:ovn-remote): nothing to move")
        return
    if ids.get("ovn-encap-ip") == address:
        ctx.record(f"ovn-encap-ip is {address} already")
        return
    options: Any = ctx.options
    if address not in _addresses(options["netns"], ctx.timeout):
        raise HostError(f"network '{net}' (underlay=tunnel): its address {address} is on no device of this "
                        "host; ovn-encap-ip not changed")
    db.write(lambda api: [api.db_set("Open_vSwitch", ".", ("external_ids", {"ovn-encap-ip": address}))],
             f"Open_vSwitch external_ids:ovn-encap-ip={address} (was {ids.get('ovn-encap-ip') or 'unset'}; "
             f"network {net})")

"""What vif-driver keeps about the host network under its external
networks, in /var/lib/vif-driver (``$VIF_DRIVER_STATE_DIR``): never in the
administrator's config.

- ``underlays.json``: the ``underlay`` custom properties of VDSM's networks
  as the last successful network setup left them: ``{"tunnel": {"network",
  "device", "address"}, "physnets": {NAME: {"network", "device"}}}``. The
  ovs driver moves ovn-encap-ip to the tunnel's address; physnet devices
  map a physical network for the drivers, over the config's mappings
  (``physnet_devices``); caps report it; ``vif-driver doctor`` checks it.
- ``underlay-tokens``: the names a request must mention to concern an
  underlay (devices, their bonds and slaves, VDSM's networks on them),
  with the stamp of what they were computed from; read with os only by
  vif_driver.hook.netsetup, the cheap gate of every network-setup hook.
"""

from __future__ import annotations

import json
import logging
import os

from vif_driver.api import Underlay
from vif_driver.hook import netsetup

log = logging.getLogger(__name__)


def _path(environ, name: str) -> str:
    return os.path.join(netsetup.state_dir(environ), name)


def load(environ=None) -> dict:
    """The recorded underlays; {} when none (or the file is unreadable: logged)."""
    environ = os.environ if environ is None else environ
    try:
        with open(_path(environ, netsetup.STATE), encoding="utf-8") as f:
            state = json.load(f)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as e:
        log.warning("ignoring unreadable underlay state %s: %s", _path(environ, netsetup.STATE), e)
        return {}
    return state if isinstance(state, dict) else {}


def physnet_devices(environ=None) -> dict[str, str]:
    """physnet -> device, from the underlay=physnet:NAME networks."""
    found = {}
    for name, entry in (load(environ).get("physnets") or {}).items():
        if isinstance(entry, dict) and isinstance(entry.get("device"), str):
            found[name] = entry["device"]
    return found


def record(setup, environ, dry_run: bool = False) -> dict:
    """The state after a successful setup: entries of networks removed or
    whose ``underlay`` property is gone dropped, the request's added.
    Written atomically unless ``dry_run``; returns it."""
    from vif_driver.core.network_setup import parse_underlay
    old = load(environ)
    requests = setup.underlay_requests()

    def kept(entry) -> bool:
        net = entry.get("network") if isinstance(entry, dict) else None
        return bool(net) and (net not in setup.networks or net in requests)

    state: dict = {}
    tunnel = old.get("tunnel")
    if isinstance(tunnel, dict) and kept(tunnel) and requests.get(tunnel["network"], "tunnel") == "tunnel":
        state["tunnel"] = tunnel
    physnets = {k: v for k, v in (old.get("physnets") or {}).items()
                if isinstance(v, dict) and kept(v) and requests.get(v["network"], "physnet:" + k) == "physnet:" + k}
    for net in sorted(requests):
        kind, name = parse_underlay(requests[net])
        device = setup.top_device(net)
        if kind == "tunnel":
            state["tunnel"] = {"network": net, "device": device, "address": setup.address(net)}
        else:
            physnets = {k: v for k, v in physnets.items() if v.get("network") != net}
            physnets[name] = {"network": net, "device": device}
    if physnets:
        state["physnets"] = physnets
    if state != old and not dry_run:
        directory = netsetup.state_dir(environ)
        os.makedirs(directory, mode=0o755, exist_ok=True)
        from vif_driver.hook.entry import write_atomically
        write_atomically(_path(environ, netsetup.STATE), (json.dumps(state, indent=1, sort_keys=True) + "\n")
                         .encode("utf-8"))
    return state


def host_devices(netns: str | None, timeout: float = 10.0) -> tuple[set[str], dict[str, str]]:
    """(device names, address -> device) of the namespace (None: this
    process's), in one netlink job bounded by ``timeout``."""
    from vif_driver.core import netlink

    def read(session):
        names = {link.index: link.name for link in session.links()}
        return names, session.addresses()
    names, held = netlink.run(read, namespace=netns, timeout=timeout, action="list the host's devices")
    return set(names.values()), {address: names[index] for address, index in held.items() if index in names}


def problems(state: dict, tunnel_netns: str | None, physnet_netns: str | None,
             encap_ip: str | None = None) -> list[tuple[str, str]]:
    """(what is wrong, the fix) for each recorded underlay gone missing:
    the device or address no longer on the host (a switch-type change or
    a change outside setupNetworks: the before hook never saw it), or
    ovn-encap-ip pointing elsewhere (``encap_ip``: its value, when read)."""
    found = []
    tunnel = state.get("tunnel")
    fix = "in the engine's Setup Networks dialog give the network that should carry it underlay={}"
    if isinstance(tunnel, dict):
        names, addresses = host_devices(tunnel_netns)
        net, address, device = tunnel.get("network"), tunnel.get("address"), tunnel.get("device")
        if device not in names:
            found.append((f"underlay tunnel: device {device} of network {net} is gone", fix.format("tunnel")))
        elif address and address not in addresses:
            found.append((f"underlay tunnel: address {address} of network {net} is on no device",
                          fix.format("tunnel")))
        elif address and encap_ip is not None and encap_ip != address:
            found.append((f"underlay tunnel: ovn-encap-ip is {encap_ip or 'unset'}, not network {net}'s "
                          f"address {address}", fix.format("tunnel") + " again"))
    physnets = state.get("physnets") or {}
    if physnets:
        names, _ = host_devices(physnet_netns)
        for name, entry in sorted(physnets.items()):
            if isinstance(entry, dict) and entry.get("device") not in names:
                found.append((f"underlay physnet:{name}: device {entry.get('device')} of network "
                              f"{entry.get('network')} is gone", fix.format(f"physnet:{name}")))
    return found


def describe(state: dict) -> list[str]:
    lines = []
    tunnel = state.get("tunnel")
    if tunnel:
        lines.append(f"tunnel endpoint: network {tunnel.get('network')} on {tunnel.get('device')}, "
                     f"address {tunnel.get('address') or 'none yet'}")
    for name, entry in sorted((state.get("physnets") or {}).items()):
        lines.append(f"physnet {name}: network {entry.get('network')} on {entry.get('device')}")
    return lines


def tokens(underlays: list[Underlay], running) -> set[str]:
    """The names a request must mention to concern one of ``underlays``."""
    found: set[str] = set()
    for u in underlays:
        found.add(u.device)
        base = u.device
        for net, attrs in running.networks.items():
            top = _top(net, attrs)
            device = attrs.get("bonding") or attrs.get("nic")
            if top == u.device:
                found.add(net)
                base = device or base
        if "." in base and base.rsplit(".", 1)[1].isdigit():
            base = base.rsplit(".", 1)[0]
        found.add(base)
        devices = {base} | set(running.bondings.get(base, {}).get("nics") or [])
        devices |= {b for b, attrs in running.bondings.items() if base in (attrs.get("nics") or [])}
        found |= devices
        for net, attrs in running.networks.items():
            if (attrs.get("bonding") or attrs.get("nic")) in devices:
                found.add(net)
    return {t for t in found if isinstance(t, str) and t and '"' not in t and "\n" not in t}


def _top(net: str, attrs: dict) -> str | None:
    device = attrs.get("bonding") or attrs.get("nic")
    if attrs.get("bridged", True) not in (False, "false", "False"):
        return net
    return f"{device}.{attrs['vlan']}" if device and attrs.get("vlan") not in (None, "") else device


def write_tokens(environ, underlays: list[Underlay], setup=None) -> None:
    """Refresh the gate's token file from ``underlays`` and VDSM's running
    config as it is now. A failure is logged: the gate then runs the full
    check, it never passes blindly."""
    from vif_driver.core.network_setup import RunningConfig
    running = RunningConfig(netsetup.netconf_dir(environ))
    found = tokens(underlays, running)
    state = load(environ)  # the recorded networks: their change or removal must reach after_network_setup
    for entry in [state.get("tunnel")] + list((state.get("physnets") or {}).values()):
        if isinstance(entry, dict):
            found |= {v for k, v in entry.items() if k in ("network", "device") and isinstance(v, str)}
    names = sorted(t for t in found if t and '"' not in t and "\n" not in t)
    try:
        directory = netsetup.state_dir(environ)
        os.makedirs(directory, mode=0o755, exist_ok=True)
        body = "v1 " + netsetup.stamp(environ) + "\n" + "".join(n + "\n" for n in names)
        from vif_driver.hook.entry import write_atomically
        write_atomically(_path(environ, netsetup.TOKENS), body.encode("utf-8"))
    except OSError as e:
        log.warning("cannot write %s: %s", _path(environ, netsetup.TOKENS), e)

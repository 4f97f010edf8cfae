"""The generic refusals of before_network_setup: what in a setupNetworks
request would cut external networks off the devices they depend on.

Each driver says which devices those are (``VifDriver.underlays``); here
they are matched against the request and VDSM's running config. Refused
(the first problem found, one line naming the network or bond, what
depends on it and the way out):

- removing the network whose device carries an underlay, or moving it to
  another nic, bond or VLAN;
- removing a bond that carries one, or enslaving an underlay NIC to a bond;
- changing or dropping the tunnel endpoint's address;
- an MTU below what the external networks on the device need;
- a VLAN on a physnet NIC that one of the drivers' own VLANs already uses.

A removal or move passes when another network of the same request takes
the underlay over (``underlay=tunnel`` / ``underlay=physnet:NAME``).
"""

from __future__ import annotations

from vif_driver.api import Underlay

DEFAULT_MTU = 1500


def refusal(setup, underlays: list[Underlay]) -> str | None:
    """The refusal line for the request, or None: it may go on."""
    tunnels = sorted(n for n, v in setup.underlay_requests().items() if v == "tunnel")
    if len(tunnels) > 1:
        return (f"networks {', '.join(repr(n) for n in tunnels)} all ask for underlay=tunnel; there is one "
                "tunnel endpoint per host: give the property to one of them")
    for u in underlays:
        problem = _refusal(setup, u)
        if problem:
            return problem
    return None


def _users(u: Underlay) -> str:
    return f"{u.users} external vNIC{'' if u.users == 1 else 's'}"


def _what(u: Underlay) -> str:
    return f"{u.device} carries {u.detail} of {_users(u)}"


def _replacement(setup, u: Underlay) -> str | None:
    """A network of the request given the property that takes ``u`` over
    (the network holding ``u`` itself, when it keeps or gets it)."""
    want = "tunnel" if u.kind == "tunnel" else f"physnet:{u.name}"
    for other, value in setup.underlay_requests().items():
        if value == want:
            return other
    return None


def _fix(u: Underlay) -> str:
    prop = "underlay=tunnel" if u.kind == "tunnel" else f"underlay=physnet:{u.name}"
    return f"move the vNICs first, or give another network {prop} in this request"


def _mtu(attrs: dict | None) -> int:
    try:
        return int((attrs or {}).get("mtu") or DEFAULT_MTU)
    except (TypeError, ValueError):
        return DEFAULT_MTU


def _refusal(setup, u: Underlay) -> str | None:
    if u.kind != "tunnel" and not u.users and not u.vlans:
        return None  # a mapping nothing uses yet
    d = u.device
    owners = [n for n in sorted(setup.running.networks) if setup.top_device(n, running=True) == d]
    base = setup.lower(owners[0], running=True)[0] if owners else None
    if base is None:
        base = d.rsplit(".", 1)[0] if "." in d and d.rsplit(".", 1)[1].isdigit() else d
    running_bond = base in setup.running.bondings
    devices = {base, d} | (set(setup.slaves(base, running=True)) if running_bond else set())
    replaced = _replacement(setup, u)

    for net in owners:
        if setup.removed(net) and not replaced:
            return f"refusing to remove network '{net}': {_what(u)}; {_fix(u)}"
        if net not in setup.networks or setup.removed(net):
            continue
        old, new = setup.lower(net, running=True), setup.lower(net)
        if old != new and not replaced:
            return (f"refusing to move network '{net}' from {_where(old)} to {_where(new)}: {_what(u)}; "
                    f"{_fix(u)}")
        if u.kind == "tunnel" and u.address and setup.address(net) != u.address and not replaced:
            return (f"refusing to change the address of network '{net}' ({u.address} -> "
                    f"{setup.address(net) or 'none'}): it is {u.detail} of {_users(u)}; "
                    "add underlay=tunnel to the network that should hold it")

    if running_bond and setup.bondings.get(base, {}).get("remove") and not replaced:
        return f"refusing to remove bond '{base}': {_what(u)}; {_fix(u)}"
    if not running_bond:
        for bond, attrs in sorted(setup.bondings.items()):
            if attrs.get("remove") or bond == base:
                continue
            if base in (attrs.get("nics") or []) and base not in setup.slaves(bond, running=True) and not replaced:
                return f"refusing to put {base} into bond '{bond}': {_what(u)}; {_fix(u)}"

    for net in sorted(setup.networks):
        attrs = setup.attrs(net)
        if attrs is None:
            continue
        device, vlan = setup.lower(net)
        on_base = device in devices
        if u.mtu and (net in owners or on_base):
            have = _mtu(attrs) if net in owners else max(_mtu(setup.attrs(n)) for n in setup.networks_on(device))
            if have < u.mtu:
                return (f"refusing mtu {have} on {device if net not in owners else d} for network '{net}': "
                        f"{u.detail} needs {u.mtu} ({_users(u)}); set the network's MTU to {u.mtu} or more")
        if on_base and vlan is not None and vlan in u.vlans and setup.lower(net, running=True) != (device, vlan):
            return (f"refusing vlan {vlan} on {device} for network '{net}': {u.vlans[vlan]}; "
                    "choose another VLAN id for the network")
    return None


def _where(lower: tuple) -> str:
    device, vlan = lower
    return f"{device or 'nothing'}" + (f" vlan {vlan}" if vlan is not None else "")

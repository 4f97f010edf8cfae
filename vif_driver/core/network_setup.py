"""VDSM's host network setup (setupNetworks), as drivers see it.

VDSM runs before_network_setup, after_network_setup and
after_network_setup_fail as root in supervdsm with ``$_hook_json`` =
``{"request": {"networks": ..., "bondings": ..., "options": ...}}``,
canonicalized and validated (/work/shared/vdsm-network-setup.md). A removal
is only ``{"remove": true}``: what a network or bond was comes from VDSM's
running config, JSON files under /var/lib/vdsm/staging/netconf/{nets,bonds}.

``handle`` is the one entry (called by vif_driver.hook.netsetup once its
cheap gate found the request may concern us):
- before: every mapped driver says which devices it depends on
  (``VifDriver.underlays``); the generic checks (underlay_checks.py) refuse,
  exit 2 (REFUSED) with one line, what would break one; then each driver's
  own ``network_setup`` (InvalidInput or another VifDriverError refuses).
  Never in a rollback. A request we cannot read, or a driver that cannot
  read its backend (HostError, NotReady), leaves the setup unguarded: exit
  0 with one warning line each; our outage must not lock the administrator
  out of the host's network.
- after: the ``underlay`` custom properties are recorded (underlay_state.py)
  and each driver's ``network_setup`` applies them (ovs: ovn-encap-ip).
- after_network_setup_fail never reaches here (nothing to undo).
"""

from __future__ import annotations

import json
import logging
import os

from vif_driver.api import HookContext, HostError, InvalidInput, NotReady, Underlay, VifDriverError
from vif_driver.core import validate
from vif_driver.core.config import HostConfig
from vif_driver.hook.points import HOOK_POINTS, REFUSED
from vif_driver.hook.protocol import Request, Response, one_line

log = logging.getLogger(__name__)

TUNNEL = "tunnel"
PHYSNET = "physnet:"


def parse_underlay(value: object) -> tuple[str, str | None]:
    """``tunnel`` -> ("tunnel", None); ``physnet:NAME`` -> ("physnet", NAME)."""
    if value == TUNNEL:
        return TUNNEL, None
    if isinstance(value, str) and value.startswith(PHYSNET):
        return "physnet", validate.physnet(value[len(PHYSNET):])
    raise ValueError(f"{str(value)[:40]!r} is not tunnel or physnet:NAME")


class RunningConfig:
    """VDSM's running config: nets/NAME and bonds/NAME JSON files (missing
    or unreadable files read as absent: VDSM owns them)."""

    def __init__(self, directory: str):
        self.directory = directory
        self.networks = self._read("nets")
        self.bondings = self._read("bonds")

    def _read(self, kind: str) -> dict[str, dict]:
        found: dict[str, dict] = {}
        path = os.path.join(self.directory, kind)
        try:
            names = sorted(os.listdir(path))
        except OSError:
            return found
        for name in names:
            try:
                with open(os.path.join(path, name), encoding="utf-8") as f:
                    value = json.load(f)
            except (OSError, ValueError):
                log.warning("skipping unreadable VDSM running config %s/%s", path, name)
                continue
            if isinstance(value, dict):
                found[name] = value
        return found


class NetworkSetup:
    """The parsed view of one setupNetworks request for the drivers."""

    def __init__(self, request: dict, running: RunningConfig):
        self.networks: dict[str, dict] = _section(request, "networks")
        self.bondings: dict[str, dict] = _section(request, "bondings")
        options = request.get("options")
        self.options: dict = options if isinstance(options, dict) else {}
        self.running = running
        self.in_rollback = self.options.get("_inRollback") in (True, "true", "True")
        #: vif-driver's recorded underlays (core/underlay_state.py); after: as this setup left them
        self.underlay_state: dict = {}

    @classmethod
    def from_text(cls, text: str, netconf_dir: str) -> NetworkSetup:
        try:
            document = json.loads(text)
        except ValueError as e:
            raise InvalidInput(f"$_hook_json is not valid JSON: {e}; VDSM writes it") from None
        request = document.get("request") if isinstance(document, dict) else None
        if not isinstance(request, dict):
            raise InvalidInput('$_hook_json has no "request" object; VDSM writes {"request": {...}}')
        return cls(request, RunningConfig(netconf_dir))

    # -- what changes -------------------------------------------------------------
    def removed(self, name: str) -> bool:
        return bool(self.networks.get(name, {}).get("remove"))

    def removed_networks(self) -> list[str]:
        return sorted(n for n, attrs in self.networks.items() if attrs.get("remove"))

    def removed_bonds(self) -> list[str]:
        return sorted(b for b, attrs in self.bondings.items() if attrs.get("remove"))

    def removed_devices(self) -> list[str]:
        """Devices that go away: removed bonds, removed networks' bridges and VLAN devices."""
        gone = set(self.removed_bonds())
        for net in self.removed_networks():
            top = self.top_device(net, running=True)
            lower = self.lower(net, running=True)[0]
            if top and top != lower:
                gone.add(top)
        return sorted(gone)

    # -- where a network sits -------------------------------------------------------
    def attrs(self, net: str, running: bool = False) -> dict | None:
        """A network's attributes: as requested (None if removed), or as running."""
        if running:
            return self.running.networks.get(net)
        attrs = self.networks.get(net)
        if attrs is None:
            return self.running.networks.get(net)
        return None if attrs.get("remove") else attrs

    def lower(self, net: str, running: bool = False) -> tuple[str | None, int | None]:
        """(nic or bond, vlan id or None) of the network."""
        attrs = self.attrs(net, running) or {}
        device = attrs.get("bonding") or attrs.get("nic")
        raw = attrs.get("vlan")
        vlan: int | None = None
        try:
            vlan = None if raw is None or raw == "" else int(raw)
        except (TypeError, ValueError):
            vlan = None
        return (device if isinstance(device, str) else None), vlan

    def top_device(self, net: str, running: bool = False) -> str | None:
        """The device holding the network's address: its bridge (named
        after it) if bridged, else its VLAN device, else its nic or bond."""
        attrs = self.attrs(net, running)
        if attrs is None:
            return None
        device, vlan = self.lower(net, running)
        if attrs.get("bridged", True) not in (False, "false", "False"):
            return net
        if device and vlan is not None:
            return f"{device}.{vlan}"
        return device

    def slaves(self, bond: str, running: bool = False) -> list[str]:
        attrs = self.running.bondings.get(bond) if running else self.bondings.get(bond)
        if attrs is None and not running:
            attrs = self.running.bondings.get(bond)
        nics = (attrs or {}).get("nics") or []
        return [n for n in nics if isinstance(n, str)]

    def address(self, net: str, running: bool = False) -> str | None:
        """The network's static address: IPv4 ipaddr, else its first IPv6."""
        attrs = self.attrs(net, running) or {}
        if attrs.get("ipaddr"):
            return str(attrs["ipaddr"])
        v6 = attrs.get("ipv6addr")
        if isinstance(v6, list):
            v6 = v6[0] if v6 else None
        return str(v6).split("/", 1)[0] if v6 else None

    def networks_on(self, device: str, running: bool = False) -> list[str]:
        """Networks whose nic or bond is ``device`` (requested state unless ``running``)."""
        names = set(self.running.networks) | (set() if running else set(self.networks))
        return sorted(n for n in names if self.lower(n, running)[0] == device)

    def underlay_requests(self) -> dict[str, str]:
        """network -> its ``underlay`` custom property, for requested networks."""
        found = {}
        for net, attrs in self.networks.items():
            custom = attrs.get("custom") if not attrs.get("remove") else None
            if isinstance(custom, dict) and custom.get("underlay") not in (None, ""):
                found[net] = custom["underlay"]
        return found


def _section(request: dict, key: str) -> dict[str, dict]:
    value = request.get(key) or {}
    if not isinstance(value, dict):
        raise InvalidInput(f'$_hook_json request.{key} is not an object; VDSM writes {{"{key}": {{...}}}}')
    return {str(k): v for k, v in value.items() if isinstance(v, dict)}


# -- the hook points ---------------------------------------------------------------
def handle(request: Request, config: HostConfig) -> Response:
    from vif_driver.core import underlay_state
    from vif_driver.hook import netsetup

    point = HOOK_POINTS[request.hook_point]
    prefix = f"vif-driver {point.name}"
    environ = request.properties
    try:
        setup = NetworkSetup.from_text(request.data, netsetup.netconf_dir(environ))
    except InvalidInput as e:
        # VDSM's request is VDSM's to get right: our failure to read it blocks nothing
        return Response(point.fail_code, messages=[one_line(f"{prefix}: {e}{netsetup.unchecked(point.name)}")])
    if point.phase == "before" and setup.in_rollback:
        return Response(0)
    setup.underlay_state = underlay_state.load(environ)
    for net, value in setup.underlay_requests().items():
        try:
            parse_underlay(value)
        except ValueError as e:  # our own property, as the administrator set it: refused
            code = REFUSED if point.phase == "before" else point.fail_code
            return Response(code, messages=[one_line(f"{prefix}: network '{net}': custom property underlay {e}; "
                                                     "fix it in the engine (Networks > Custom properties)")])

    messages: list[str] = []
    actions: list[str] = []
    drivers = _drivers(config, point, environ, request.dry_run, messages)
    underlays, complete = _collect(drivers, point, messages)

    code = 0
    if point.phase == "before":
        from vif_driver.core import underlay_checks
        refusal = underlay_checks.refusal(setup, underlays)
        if refusal:
            return Response(REFUSED, messages=messages + [one_line(f"{prefix}: {refusal}")])
    else:
        changed = underlay_state.record(setup, environ, dry_run=request.dry_run)
        setup.underlay_state = changed
        actions.extend(f"underlay state: {line}" for line in underlay_state.describe(changed))

    for name, driver, ctx in drivers:
        try:
            driver.network_setup(setup, ctx)
        except (HostError, NotReady) as e:  # the driver cannot tell: our outage blocks nothing
            messages.append(one_line(f"vif-driver[{name}] {point.name}: {e}{netsetup.unchecked(point.name)}"))
            code = point.fail_code
        except VifDriverError as e:
            if point.phase == "before":  # the driver refuses the request
                return Response(REFUSED, messages=messages + [one_line(f"vif-driver[{name}] {point.name}: {e}")],
                                actions=actions + ctx.actions)
            messages.append(one_line(f"vif-driver[{name}] {point.name}: {e}"))
            code = point.fail_code
        messages.extend(one_line(f"vif-driver[{name}] {point.name}: {w}") for w in ctx.warnings)
        actions.extend(ctx.actions)

    if complete and not request.dry_run:
        if point.phase != "before":  # VDSM's running config and the drivers' state have changed
            underlays = _underlays_again(drivers) or underlays
        underlay_state.write_tokens(environ, underlays, setup)
    return Response(code, messages=messages, actions=actions)


def refresh_tokens(config: HostConfig, environ) -> bool:
    """Rewrite the hook's token file from the drivers' underlays as they
    are now. The agent does this every few minutes, so the hook's cheap
    path holds between network setups and a change made outside them (an
    ovs-vsctl of ovn-encap-ip) reaches the gate within that time. False
    when a driver could not tell (the file is then left to go stale)."""
    from vif_driver.core import underlay_state
    point = HOOK_POINTS["before_network_setup"]
    messages: list[str] = []
    underlays, complete = _collect(_drivers(config, point, environ, False, messages), point, messages)
    for line in messages:
        log.info("underlay tokens: %s", line)
    if complete and not messages:
        underlay_state.write_tokens(environ, underlays)
    return complete and not messages


def _drivers(config: HostConfig, point, environ, dry_run: bool, messages: list[str]) -> list[tuple]:
    """(name, driver, HookContext) of each configured driver that loads."""
    from vif_driver.core.dispatch import load_driver, resolve_options
    drivers = []
    for name in config.drivers():
        try:
            driver = load_driver(name)
            options = resolve_options(driver, config, name, {})
        except VifDriverError as e:
            messages.append(one_line(f"vif-driver[{name}] {point.name}: {e}"))
            continue
        ctx = HookContext(hook_point=point.name, phase=point.phase, properties=environ, options=options,
                          timeout=config.timeout, dry_run=dry_run, driver=name,
                          plugin_types=tuple(config.drivers()[name]))
        drivers.append((name, driver, ctx))
    return drivers


def _collect(drivers: list[tuple], point, messages: list[str]) -> tuple[list[Underlay], bool]:
    """Every driver's underlays, and whether all of them could tell."""
    underlays: list[Underlay] = []
    complete = True
    for name, driver, ctx in drivers:
        try:
            found = driver.underlays(ctx) or []
        except VifDriverError as e:
            complete = False
            messages.append(one_line(f"vif-driver[{name}] {point.name}: {e}; the request is not checked "
                                     "against this driver's underlays"))
            continue
        for u in found:
            u.driver = name
        underlays.extend(found)
    return underlays, complete


def _underlays_again(drivers) -> list[Underlay] | None:
    found: list[Underlay] = []
    for name, driver, ctx in drivers:
        try:
            part = driver.underlays(ctx) or []
        except VifDriverError:
            return None
        for u in part:
            u.driver = name
        found.extend(part)
    return found

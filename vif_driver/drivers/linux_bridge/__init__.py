"""Linux bridge driver: vNICs on plain Linux bridges, usually one per VLAN
of a host NIC, built and removed by the driver itself through netlink.

Two ways to say where a vNIC goes (options; a vNIC's provider custom
properties override the host config's [driver:linux_bridge]):
- ``bridge``: an existing bridge an administrator made; only checked.
- ``physical_network`` + ``segmentation_id``: a provider VLAN network. The
  host maps physical networks to interfaces (``physical_interface_mappings``);
  the driver derives the bridge name, creates the VLAN device and the bridge
  when missing, marks them (ifalias) and removes them when no port is left.

All netlink reads and writes go through pyroute2 (netlink.py), each job
bounded by the timeout. Resident in the agent (open()), the driver keeps
its netlink sockets open and a fresh snapshot of the links for caps and
stats (view.py). See docs/linux-bridge-driver.md.
"""

from __future__ import annotations

import os
from typing import Any

from vif_driver.api import HookContext, HostError, InvalidInput, Option, VifDriver
from vif_driver.core import validate
from vif_driver.core.naming import tap_name
from vif_driver.drivers.linux_bridge import naming
from vif_driver.provider_client.options import PROVIDER_OPTIONS

DEFAULT_LOCK_DIR = "/run/vif-driver/locks"
_CONFIRMED = ("after_device_create", "after_nic_hotplug", "after_device_migrate_destination")
UPDATE = "before_update_device"


def _directory(value: str) -> str:
    path = os.path.normpath(value)
    if not value.startswith("/") or "\0" in value or ".." in value.split("/"):
        raise ValueError(f"{value!r} is not an absolute directory path")
    return path


class LinuxBridgeDriver(VifDriver):
    options = {
        **PROVIDER_OPTIONS,
        "bridge": Option(None, validate.optional(validate.ifname), "existing bridge to plug into"),
        "physical_network": Option(None, validate.optional(validate.physnet), "provider physical network name"),
        "segmentation_id": Option(None, validate.optional(validate.vlan), "VLAN id of the network"),
        "vlan": Option(None, validate.optional(validate.vlan), "alias of segmentation_id"),
        "mtu": Option(None, validate.optional(validate.mtu), "network MTU for the vNIC, bridge and VLAN"),
        "physical_interface_mappings": Option({}, naming.parse_mappings, "physnet1:eth1,physnet2:eth2",
                                              host_only=True),
        "netns": Option(None, validate.optional(validate.name), "network namespace to work in",
                        host_only=True),
        "lock_dir": Option(DEFAULT_LOCK_DIR, _directory, "lock and claim files", host_only=True),
        "plug_timeout": Option(None, validate.optional(validate.seconds), "post-plug wait (default: timeout)",
                               host_only=True),
        "uplink_kind": Option("vlan", naming.uplink_kind,
                              "vlan (802.1Q); vxlan only stands in on kernels without 8021q", host_only=True),
    }

    def open(self) -> None:
        """Resident in the agent: keep the netlink sockets open across calls."""
        from vif_driver.core import netlink
        netlink.keep_open()

    def close(self) -> None:
        from vif_driver.core import netlink
        from vif_driver.drivers.linux_bridge import view
        view.close_all()
        netlink.close_all()

    # -- helpers ------------------------------------------------------------

    @staticmethod
    def _target(ctx: HookContext, domxml=None) -> naming.Target:
        options = ctx.options
        if options["provider_url"]:
            try:
                options = _with_provider_network(ctx)
            except HostError:
                # After the fact (unplug, destroy) the engine may have deleted
                # the port already, or the provider may be down: the bridge the
                # vNIC was on and our marks on it still say what to clean up.
                target = None if ctx.is_before else _target_of_bridge(domxml, ctx)
                if target is None:
                    raise
                return target
        try:
            return naming.resolve(_with_underlay_mappings(options, ctx))
        except ValueError as e:
            raise InvalidInput(str(e)) from None

    @staticmethod
    def _network(target: naming.Target, ctx: HookContext):
        from vif_driver.drivers.linux_bridge.host import Network
        options: Any = ctx.options
        return Network(target, namespace=options["netns"], lock_dir=options["lock_dir"],
                       timeout=ctx.timeout, record=ctx.record, dry_run=ctx.dry_run)

    @staticmethod
    def _taps(ctx: HookContext):
        from vif_driver.drivers.linux_bridge.taps import TapOwners
        options: Any = ctx.options
        return TapOwners(lock_dir=options["lock_dir"], namespace=options["netns"], timeout=ctx.timeout,
                         dry_run=ctx.dry_run)

    def _plug(self, target: naming.Target, ctx: HookContext) -> None:
        """A plug that names the vNIC's tap (VM start, hotplug, migration
        here): record the tap name as this vNIC's (refused while another
        live vNIC has it), then build the network; a failed build drops the
        record again."""
        taps, tap = self._taps(ctx), tap_name(_vnic(ctx))
        taps.take(tap, _vnic(ctx), ctx.vm_id)
        try:
            self._prepare(target, ctx)
        except BaseException:
            taps.drop(tap, _vnic(ctx))
            raise

    def _prepare(self, target: naming.Target, ctx: HookContext, tap: str | None = None) -> None:
        """Build the network before the guest runs, and claim it for this
        vNIC until its tap is attached (a second claim of the same vNIC
        changes nothing; the claim records which hook made it). An update
        (``tap``: the running vNIC's) that moves the vNIC to another
        network notes in the claim the bridge it leaves."""
        with self._network(target, ctx) as network:
            network.ensure()
            if target.managed:
                left = network.bridge_of(tap) if tap else None
                network.claim(ctx.vnic_id, ctx.hook_point, left if left != target.bridge else None)

    def _leave(self, bridge: str, ctx: HookContext) -> None:
        """A network change moved the vNIC off ``bridge``: remove that
        network as an unplug would, if the driver built it and nothing uses it."""
        target = _marked_target(bridge, ctx)
        if target.managed:
            with self._network(target, ctx) as network:
                network.cleanup(None)

    def _confirm(self, target: naming.Target, ctx: HookContext) -> None:
        network = self._network(target, ctx)
        network.wait_port(tap_name(_vnic(ctx)), ctx.options["plug_timeout"] or ctx.timeout)
        if target.managed:
            network.release(ctx.vnic_id)

    # -- the API ------------------------------------------------------------

    def wait_bound(self, properties: HookContext) -> float:
        """The post-plug confirmations (_confirm) wait up to plug_timeout
        (default: timeout) for the tap."""
        if properties.hook_point not in _CONFIRMED:
            return 0.0
        options: Any = properties.options
        return options["plug_timeout"] or properties.timeout

    def plug_device(self, domxml, properties: HookContext):
        """before: rewrite and build the network (update-device keeps the
        running tap's name). after: confirm the tap; after an update, drop
        the update's claim (the tap is on its bridge now); after a failed
        update or hot-unplug the vNIC stays on the running VM: drop only a
        claim the failed update made (and the network it built, if unused),
        then check the tap is still on a bridge."""
        target = self._target(properties, None if properties.is_before else domxml)
        if properties.is_before:
            update = properties.hook_point == UPDATE
            rewrite(domxml, target.bridge, tap_name(_vnic(properties)), target.mtu, set_target=not update)
            if update:
                self._prepare(target, properties, _tap_of(domxml, _vnic(properties)))
            else:
                self._plug(target, properties)
            return domxml
        if properties.failed:
            self._undo_failed(target, domxml, properties)
        elif properties.hook_point in _CONFIRMED:
            self._confirm(target, properties)
        elif properties.hook_point == "after_update_device" and target.managed:
            network = self._network(target, properties)
            claim = network.claim_of(properties.vnic_id)
            network.release(properties.vnic_id)
            if len(claim) == 2 and claim[0] == UPDATE:
                self._leave(claim[1], properties)
        return domxml

    def _undo_failed(self, target: naming.Target, domxml, ctx: HookContext) -> None:
        if ctx.hook_point == "after_update_device_fail" and target.managed:
            with self._network(target, ctx) as network:
                if network.release(ctx.vnic_id, made_by=UPDATE):
                    network.cleanup(None)
        tap = _tap_of(domxml, _vnic(ctx))
        self._network(target, ctx).check_attached(tap)

    def unplug_device(self, domxml, properties: HookContext) -> None:
        if properties.is_before:
            return  # the guest still uses the vNIC; never block an unplug
        # Only a tap recorded as this vNIC's is detached: another vNIC whose
        # id starts alike derives the same name.
        taps, tap = self._taps(properties), tap_name(_vnic(properties))
        mine = taps.mine(tap, _vnic(properties))
        try:
            target = self._target(properties, domxml)
            with self._network(target, properties) as network:
                network.release(properties.vnic_id)
                network.cleanup(tap if mine else None)
        finally:
            if mine:
                taps.drop(tap, _vnic(properties))

    def migration_source(self, domxml, properties: HookContext) -> None:
        if properties.is_before:
            return  # the VM may fail back: change nothing
        # The VM left. Remove the network only if nothing uses it; a VM that
        # failed back still has its tap on the bridge, so it is kept then.
        target = self._target(properties, domxml)
        if target.managed:
            with self._network(target, properties) as network:
                network.release(properties.vnic_id)
                network.cleanup(None)
        self._taps(properties).drop(tap_name(_vnic(properties)), _vnic(properties), only_if_gone=True)

    def migration_destination(self, domxml, properties: HookContext) -> None:
        target = self._target(properties)
        if properties.is_before:
            self._plug(target, properties)
        else:
            self._confirm(target, properties)

    def underlays(self, properties: HookContext) -> list:
        """Each mapped interface carrying VLAN devices this driver made."""
        from vif_driver.drivers.linux_bridge import underlays
        return underlays.collect(properties)

    def get_caps(self, caps: dict, properties: HookContext) -> dict:
        from vif_driver.drivers.linux_bridge import stats
        options: Any = properties.options
        try:
            section: dict = {}
            bound = stats.collect_caps(caps, section, namespace=options["netns"], timeout=properties.timeout,
                                       configured=options["bridge"],
                                       mappings=_with_underlay_mappings(options, properties)[
                                           "physical_interface_mappings"],
                                       plugin_types=properties.plugin_types)
            properties.caps_section(caps).update(section)
            if bound is None:  # recorded, not warned: LINUX_BRIDGE is mapped by default on every host
                properties.record("no binding host id reported for " + ", ".join(properties.plugin_types)
                                  + ": no mapped physical network interface and no configured bridge on this "
                                  "host; set physical_interface_mappings or bridge in [driver:linux_bridge]")
            return caps
        except Exception as e:  # noqa: BLE001 - caps degrade quietly
            properties.warn(f"bridges not read, caps not reported: {e}")
            return caps

    def adds_stats(self, properties: HookContext) -> bool:
        """Only ports in another namespace (``netns``) can be missing from
        VDSM's stats: it lists every link of its own, ours included."""
        return bool(properties.options["netns"])

    def get_stats(self, stats: dict, properties: HookContext) -> dict | None:
        from vif_driver.drivers.linux_bridge import stats as lb_stats
        options: Any = properties.options
        try:
            added = lb_stats.collect_stats(stats, namespace=options["netns"], timeout=properties.timeout,
                                           configured=options["bridge"])
        except Exception as e:  # noqa: BLE001 - stats degrade quietly
            properties.warn(f"counters not read, vNIC stats not reported: {e}")
            return None
        return stats if added else None


def _vnic(ctx: HookContext) -> str:
    """The vNIC id of a vNIC hook (the framework gives one to every vNIC call)."""
    return ctx.vnic_id or ""


def _tap_of(domxml, vnic_id: str) -> str:
    """The running vNIC's tap: the XML's <target dev> (libvirt may have
    named it vnetN), else the name the plug rewrite gives it."""
    target = domxml.find("target") if domxml is not None else None
    dev = target.get("dev") if target is not None else None
    if not dev:
        return tap_name(vnic_id)
    try:
        return validate.ifname(dev)
    except ValueError as e:
        raise InvalidInput(f"device XML <target dev>: {e}") from None


def _target_of_bridge(domxml, ctx: HookContext) -> naming.Target | None:
    """The Target of the bridge named by the device XML's <source>, from the
    ownership mark this driver put on it; None without XML or bridge."""
    source = domxml.find("source") if domxml is not None else None
    bridge = source.get("bridge") if source is not None else None
    if not bridge:
        return None
    try:
        validate.ifname(bridge)
    except ValueError as e:
        raise InvalidInput(f"device XML <source bridge>: {e}") from None
    return _marked_target(bridge, ctx)


def _marked_target(bridge: str, ctx: HookContext) -> naming.Target:
    """The Target of ``bridge`` as the driver's ownership mark on it says
    (a plain Target, never removed, without the mark)."""
    from vif_driver.core import netlink
    options: Any = ctx.options
    found = netlink.run(lambda nl: nl.get(bridge), namespace=options["netns"], timeout=ctx.timeout,
                        action=f"read bridge {bridge}")
    mark = naming.parse_alias(found.alias) if found is not None else None
    if mark is None or mark[0] != "bridge":
        return naming.Target(bridge)
    interface = _with_underlay_mappings(options, ctx)["physical_interface_mappings"].get(mark[1])
    return naming.Target(bridge, mark[1], int(mark[2]), interface, kind=options["uplink_kind"])


def _with_underlay_mappings(options, ctx: HookContext):
    """The options with physical_interface_mappings completed by VDSM's
    underlay=physnet:NAME networks (vif_driver.core.underlay_state), which
    win over the config's, one physical network per interface (what is left
    out: one warning line): one stat when there are none."""
    from vif_driver.hook import netsetup
    if not os.path.exists(os.path.join(netsetup.state_dir(os.environ), netsetup.STATE)):
        return options
    from vif_driver.drivers.linux_bridge import underlays

    def warn(text: str) -> None:
        if text not in ctx.warnings:  # once per hook run, however often the mappings are needed
            ctx.warn(text)
    merged = dict(options)
    merged["physical_interface_mappings"] = underlays.mappings(options, warn)
    return merged


def _with_provider_network(ctx: HookContext) -> dict:
    """The options, completed by what the provider says of the vNIC's
    network when it is a VLAN (a vNIC property still wins)."""
    from vif_driver.provider_client import lookup
    settings = lookup.network_settings(ctx)
    ntype = settings.get("network_type")
    if ntype not in (None, "vlan") and "bridge" not in ctx:
        # one bridge per physnet VLAN is all the isolation this driver has: a
        # local, flat or tunnel network would share the host's configured bridge
        raise HostError(f"network type {ntype} of vNIC {ctx.vnic_id} cannot be isolated by the linux_bridge "
                        "driver (one bridge per VLAN); use a vlan network, or the ovs driver")
    options = dict(ctx.options)
    if settings.get("network_type") == "vlan" and "bridge" not in ctx:
        for key in ("physical_network", "segmentation_id", "mtu"):
            options[key] = lookup.choose(ctx, settings, key)
    return options


def rewrite(interface, bridge: str, tap: str, mtu: int | None, set_target: bool = True) -> None:
    """The pure XML part of a plug: a bridge-type interface on ``bridge``
    with tap ``tap``, no <virtualport>; every other child is kept, so running
    it twice gives the same XML. ``set_target=False`` (update-device) keeps
    the XML's <target> as it is and adds none: libvirt refuses to rename a
    running vNIC's tap, which may be one it named itself (vnetN)."""
    interface.set("type", "bridge")
    for stale in interface.findall("virtualport"):
        interface.remove(stale)
    from vif_driver.core.domxml import only_child
    only_child(interface, "source", {"bridge": bridge})
    if set_target:
        only_child(interface, "target", {"dev": tap})
    if mtu:
        only_child(interface, "mtu", {"size": str(mtu)})

"""The Open vSwitch reference driver.

plug (before): the pure XML rewrite of rewrite.py; libvirt then adds the
port to OVS and sets its external_ids. Everything else talks to OVSDB
through OvsDb (ovsdb.py), imported only when needed so the rewrite's hook
process loads nothing but lxml.
"""

from __future__ import annotations

import time

from vif_driver.api import HostError, InvalidInput, NotReady, Option, VifDriver
from vif_driver.core import validate
from vif_driver.drivers.ovs import networks
from vif_driver.drivers.ovs.remote import DEFAULT_REMOTE, parse_remote
from vif_driver.provider_client.options import PROVIDER_OPTIONS

NAME = "ovs"
UPDATE = "before_update_device"
CONFIRMING = ("after_device_create", "after_nic_hotplug", "after_device_migrate_destination")  # _confirm
EXAMPLE_UUID = "6a9f5e2b-71a3-4c1e-9d1b-2f4e6a8c0b13"
# The agent's kernel counters: re-read every COUNTERS_REFRESH s while stats
# are asked for, used while at most COUNTERS_AGE s old (sampleTime says when)
COUNTERS_REFRESH = 2.0
COUNTERS_AGE = 5.0


class OvsDriver(VifDriver):
    """vNICs on an OVS bridge (br-int), as ovirt-provider-ovn and Neutron's
    OVS agent expect them: a tap named after the port id, iface-id set."""

    options = {
        **PROVIDER_OPTIONS,
        **networks.OPTIONS,
        "bridge": Option("br-int", validate.ifname, "OVS bridge the vNICs are plugged into"),
        "mtu": Option(None, validate.mtu, "MTU written as <mtu size=N/>; unset: keep the XML's"),
        "ovsdb": Option(DEFAULT_REMOTE, parse_remote, "ovsdb-server remote: unix:/path or tcp:HOST:PORT",
                        host_only=True),
        "plug_timeout": Option(10.0, validate.seconds, "seconds to wait for the port after plugging",
                               host_only=True),
        "netns": Option(None, validate.optional(validate.name), "network namespace where ovs-vswitchd's taps "
                        "live (stats); empty: this host's (test and demo setups only)", host_only=True),
    }

    # -- vNIC hooks ---------------------------------------------------------------
    def plug_device(self, domxml, properties):
        """before: the rewrite (update-device keeps the running tap's name).
        after: confirm the port; after an update (or a failed update or
        hot-unplug, when the vNIC stays on the running VM) check that the
        port with the vNIC's iface-id is still on a bridge. A failed
        operation never removes the port: nothing was reserved before it."""
        _uuid_vnic_id(properties)
        if properties.is_before:
            from vif_driver.drivers.ovs import rewrite
            where = networks.place(properties)
            if where.needs_ovn:
                self._require_ovn(properties, where.network_type or "of an OVN provider")
            rewrite.plug(domxml, properties.vnic_id, where.bridge, where.mtu,
                         set_target=properties.hook_point != UPDATE)
            return networks.apply_tag(domxml, where.tag)
        if properties.failed or properties.hook_point == "after_update_device":
            self._still_connected(properties)
        else:
            self._confirm(domxml, properties)
        return domxml

    def unplug_device(self, domxml, properties) -> None:
        """after: remove the port if libvirt left it behind. before: nothing;
        the guest still uses the port until libvirt detaches the NIC."""
        if properties.is_before:
            return
        _uuid_vnic_id(properties)
        dev = _device(domxml, properties.vnic_id)
        with self._db(properties) as db:
            removed = db.remove_vnic_ports(properties.vnic_id, dev, properties.vm_id)
        if not removed:
            properties.record(f"leave the switch as it is: no port of vNIC {properties.vnic_id} left behind")

    def migration_source(self, domxml, properties) -> None:
        """Nothing: the port must stay until the VM runs on the destination,
        and libvirt removes it with the source domain."""

    def migration_destination(self, domxml, properties) -> None:
        """before: stop the migration if the bridge libvirt will plug into is
        missing here, or if the vNIC's network needs OVN and this host is no
        OVN chassis (as a plug would). after: confirm the port like after a
        plug; on an OVN chassis with a provider configured, bind the port
        to this chassis alone (see _bind_here)."""
        _uuid_vnic_id(properties)
        if not properties.is_before:
            self._confirm(domxml, properties)
            self._bind_here(properties)
            return
        where = networks.place(properties)
        if where.needs_ovn:
            self._require_ovn(properties, where.network_type or "of an OVN provider")
        bridge = _bridge(domxml, properties)
        with self._db(properties) as db:
            if not db.bridge_exists(bridge):
                raise HostError(f"bridge {bridge} does not exist in Open vSwitch on this host; create it "
                                f"(ovs-vsctl add-br {bridge}) before migrating VMs with external vNICs here")

    def wait_bound(self, properties) -> float:
        """The post-plug confirmations (_confirm) wait up to plug_timeout
        for the port; nothing else waits beyond its OVSDB calls."""
        return properties.options["plug_timeout"] if properties.hook_point in CONFIRMING else 0.0

    # -- host hooks ---------------------------------------------------------------
    def get_caps(self, caps: dict, properties) -> dict:
        """openstack_binding_host_ids[plugin_type] = OVS system-id (what
        ovirt-provider-ovn reports) and a vif_driver section. The host id
        is claimed only when the backend is set up: OVSDB answers and the
        integration bridge exists; else the engine would bind ports here
        that no vNIC can use. On an OVN chassis (external_ids:ovn-remote)
        the system-id is the chassis name, which a provider writes as
        requested-chassis; the section then says so (vif_driver.ovn)."""
        from vif_driver.drivers.ovs.ovsdb import ERRORS
        bridge = properties.options["bridge"]
        try:
            with self._db(properties) as db:
                system_id, has_bridge = db.host_info(bridge)
                ovn_remote = db.ovn_chassis()
                mappings = properties.options["bridge_mappings"]
                try:
                    exists = db.bridges_exist(sorted(set(mappings.values()))) if mappings else None
                except ERRORS as e:
                    properties.warn(f"{e}; bridge_mappings not reported")
                    exists = None
        except ERRORS as e:
            properties.warn(f"{e}; caps not reported")
            return caps
        if system_id and has_bridge:
            ids = caps.setdefault("openstack_binding_host_ids", {})
            for plugin_type in properties.plugin_types:
                ids[plugin_type] = system_id
        elif system_id:
            properties.warn(f"bridge {bridge} does not exist in Open vSwitch, so no binding host id is "
                            f"reported (the host cannot plug vNICs); create it (ovs-vsctl add-br {bridge}) "
                            "or set bridge in [driver:ovs]")
        else:
            properties.warn("Open_vSwitch has no external_ids:system-id, so no binding host id is reported; "
                            "set it: ovs-vsctl set Open_vSwitch . external_ids:system-id=$(uuidgen)")
        section = properties.caps_section(caps)
        section.update(plugin_types=sorted(properties.plugin_types), system_id=system_id,
                       bridges={bridge: {"exists": has_bridge}})
        if ovn_remote:  # an OVN chassis: the binding host id is its chassis name
            section["ovn"] = {"chassis": system_id, "ovn_remote": ovn_remote}
        if exists is not None:
            networks.caps(section, exists, mappings)
        return caps

    def adds_stats(self, properties) -> bool:
        """Only taps in another namespace (``netns``) can be missing from
        VDSM's stats: it lists every link of its own, ours included."""
        return bool(properties.options["netns"])

    def get_stats(self, stats: dict, properties) -> dict | None:
        """Counters of the external vNICs VDSM's report lacks (see
        stats.unreported): the devices from OVSDB (in the agent: a memory
        read of its resident view), their counters from the kernel in one
        read (in the agent: a sample at most COUNTERS_AGE old, its read time
        as sampleTime). None when VDSM reports them all: its document stays
        as it wrote it."""
        from vif_driver.drivers.ovs import stats as vnic_stats
        from vif_driver.drivers.ovs.ovsdb import ERRORS
        try:
            with self._db(properties) as db:
                rows = db.interfaces()
        except ERRORS as e:
            properties.warn(f"{e}; vNIC stats not reported")
            return None
        rows = vnic_stats.unreported(stats, rows)
        if not rows:
            return None
        counters, taken = self._counters(properties, rows)
        properties.record(f"read kernel counters of {len(counters)} devices")
        return stats if vnic_stats.add(stats, rows, counters, now=taken) else None

    # -- host network setup (docs/network-setup.md) --------------------------------
    def underlays(self, properties) -> list:
        """The tunnel endpoint's device (ovn-encap-ip) and the NICs of the
        physnet bridges; one OVSDB read and one address dump."""
        from vif_driver.drivers.ovs import underlays
        with self._db(properties) as db:
            return underlays.collect(db, properties)

    def network_setup(self, setup, properties) -> None:
        """after a successful setup: move ovn-encap-ip to the network given
        underlay=tunnel. before: the framework's checks are enough."""
        if properties.is_before or properties.failed:
            return
        from vif_driver.drivers.ovs import underlays
        with self._db(properties) as db:
            underlays.apply_tunnel(db, setup, properties)

    # -- helpers ------------------------------------------------------------------
    def _db(self, properties, resident: bool = True):
        """The OVSDB access of this call: on the agent's resident view of the
        configured remote while it is current (not in a dry run: that lists
        the hook's own reads), else a connection of its own."""
        from vif_driver.drivers.ovs.ovsdb import OvsDb
        client = self._view(properties) if resident else None
        return OvsDb(properties.options["ovsdb"], properties.timeout, properties.record, properties.dry_run,
                     client=client)

    def _bind_here(self, properties) -> None:
        """The VM runs here now (VDSM runs after_device_migrate_destination
        after the switch-over): PUT binding:host_id = this chassis, so the
        provider narrows OVN's requested-chassis from "SRC,DST" (the
        multi-chassis binding it made when the engine moved the port) to
        this one and drops activation-strategy. Only on an OVN chassis with
        provider_url set. A failure is a warning: the VM runs and the port
        carries traffic here (the RARP activated it); it only stays bound
        to both chassis until the next update."""
        from vif_driver.provider_client.http import ProviderError, update_port
        options = properties.options
        url = options.get("provider_url")
        if not url:
            return
        with self._db(properties) as db:
            if not db.ovn_chassis():
                return
            system_id, _ = db.host_info(options["bridge"])
        if not system_id:
            return
        properties.record(f"provider: PUT {url.rstrip('/')}/v2.0/ports/{properties.vnic_id} "
                          f"binding:host_id={system_id}", write=True)
        if properties.dry_run:
            return
        try:
            update_port(url, properties.vnic_id, {"binding:host_id": system_id},
                        username=options.get("provider_username"), password=options.get("provider_password"),
                        timeout=properties.timeout, auth_url=options.get("provider_auth_url"),
                        cafile=options.get("provider_cafile"))
        except ProviderError as e:
            properties.warn(f"{e}; the port stays bound to both chassis until binding:host_id is set again")

    def _require_ovn(self, properties, network_type: str) -> None:
        """An overlay network (or any network of an OVN provider) is carried
        by OVN's ovn-controller from br-int: refuse it before libvirt plugs
        anything unless this host is an OVN chassis (one OVSDB read, for
        these vNICs only)."""
        with self._db(properties) as db:
            if db.ovn_chassis():
                return
        raise HostError(f"network type {network_type} needs OVN on this host: set "
                        "Open_vSwitch external_ids:ovn-remote and run ovn-controller; or use vlan, flat or local")

    def _still_connected(self, properties) -> None:
        """The vNIC of a running VM is still on the switch: found by its
        iface-id, so a tap libvirt named itself (vnetN) counts too."""
        with self._db(properties) as db:
            problem, found = db.vnic_connection(properties.vnic_id, properties.vm_id)
        if problem:
            raise NotReady(f"not connected: {problem}; see the VM's libvirt log and `ovs-vsctl show`")
        properties.record(f"checked {found}")

    def _confirm(self, domxml, properties) -> None:
        """The port is on its bridge, opened, with the vNIC's iface-id and
        (tagged networks) the network's tag; on an OVN chassis also until
        ovn-controller has installed its flows (all within plug_timeout)."""
        dev = _device(domxml, properties.vnic_id)
        bridge, tag = _bridge_and_tag(domxml, properties)
        wait = properties.options["plug_timeout"]
        with self._db(properties) as db:
            left = db.wait_port(dev, bridge, properties.vnic_id, wait)
            if left is None:
                if tag is not None:
                    networks.confirm_tag(db, dev, tag)
                return
        # the agent's view stopped being current: a connection of its own for the time left
        with self._db(properties, resident=False) as db:
            db.wait_port(dev, bridge, properties.vnic_id, left)
            if tag is not None:
                networks.confirm_tag(db, dev, tag)

    def _counters(self, properties, rows) -> tuple[dict[str, list[str]], float]:
        """The kernel's counters and when they were read: now in a hook
        process; in the agent from a sample at most COUNTERS_AGE old, read
        anew when a vNIC of ``rows`` is not in it (plugged since; one the
        kernel did not show at the last such read is not asked for again)."""
        from vif_driver.drivers.ovs import stats as vnic_stats
        netns = properties.options["netns"]
        if not self.resident:
            return vnic_stats.read_counters(netns), time.time()
        from vif_driver.core.sampler import Sampler
        sampler = self._samplers.get(netns)
        if sampler is None:
            sampler = self._samplers.setdefault(netns, Sampler(
                lambda timeout: vnic_stats.read_counters(netns), name=f"counters@{netns or 'host'}",
                refresh=COUNTERS_REFRESH, max_age=COUNTERS_AGE))
        try:
            sample = sampler.get(properties.timeout)
            absent = self._absent.get(netns, set())
            if _missing(sample.value, rows) - absent:
                sampler.invalidate()
                sample = sampler.get(properties.timeout)
                self._absent[netns] = _missing(sample.value, rows)
        except TimeoutError as e:
            raise HostError(f"{e}; the kernel did not list its devices in time") from None
        return sample.value, sample.taken

    # -- resident (agent) state ----------------------------------------------------
    def open(self) -> None:
        from vif_driver.drivers.ovs.view import Registry, View
        self._views = Registry(lambda remote, timeout: View(remote, timeout).start())
        self._samplers: dict = {}
        self._absent: dict = {}  # netns -> vNICs of OVSDB the kernel did not show

    def close(self) -> None:
        views = getattr(self, "_views", None)
        if views is not None:
            views.close()
        for sampler in getattr(self, "_samplers", {}).values():
            sampler.close()

    def _view(self, properties):
        """The current Client of the agent's view of the configured remote,
        in the agent only (waiting, bounded, for its first connection)."""
        if not self.resident or properties.dry_run:
            return None
        from vif_driver.hook.client import request_deadline
        remote = properties.options["ovsdb"]
        # kept while this call may use it: its deadline in the agent
        view = self._views.get(remote, request_deadline(properties.timeout, properties.options["plug_timeout"]),
                               remote, properties.timeout)
        return view.client(properties.timeout)


def _missing(counters: dict, rows: list[dict]) -> set[str]:
    """The vNICs of ``rows`` the kernel's ``counters`` do not show."""
    return {row["name"] for row in rows if row["name"] not in counters}


def _uuid_vnic_id(properties) -> None:
    """libvirt parses <parameters interfaceid> as a UUID and fails the VM
    start on anything else ("cannot parse interfaceid parameter as a uuid"):
    refuse it here, with the fix, before libvirt sees it."""
    try:
        validate.uuid(properties.vnic_id)
    except ValueError:
        raise InvalidInput(f"property vnic_id: {properties.vnic_id[:40]!r} is not a UUID; Open vSwitch vNICs "
                           f"need the provider's port id as a UUID like {EXAMPLE_UUID}") from None


def _device(domxml, vnic_id: str) -> str:
    """The tap's name: <target dev> of XML our rewrite produced, else the
    name the rewrite gives it (VDSM often sends after-hooks an empty file)."""
    from vif_driver.core.naming import tap_name
    target = domxml.find("target") if _rewritten(domxml) else None
    dev = target.get("dev") if target is not None else None
    return _checked(dev, "<target dev>") if dev else tap_name(vnic_id)


def _bridge(domxml, properties) -> str:
    """The bridge libvirt plugs into: <source bridge> of XML our rewrite
    produced (at migration: the source host's), else the one plug chose."""
    return _bridge_and_tag(domxml, properties)[0]


def _bridge_and_tag(domxml, properties) -> tuple[str, int | None]:
    """The bridge and port tag of the vNIC: from XML our rewrite produced
    (its <vlan>; none: untagged), else what plug chooses (networks.py)."""
    source = domxml.find("source") if _rewritten(domxml) else None
    bridge = source.get("bridge") if source is not None else None
    if bridge:
        return _checked(bridge, "<source bridge>"), networks.xml_tag(domxml)[1]
    where = networks.place(properties)
    return where.bridge, where.tag


def _rewritten(domxml) -> bool:
    """Whether the XML is ours (the engine's original still names VDSM's
    placeholder bridge ';vdsmdummy;' and has no virtualport)."""
    return domxml is not None and domxml.find("virtualport[@type='openvswitch']") is not None


def _checked(value: str, where: str) -> str:
    try:
        return validate.ifname(value)
    except ValueError as e:
        raise InvalidInput(f"device XML {where}: {e}") from None


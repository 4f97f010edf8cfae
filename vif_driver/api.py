"""The VIF driver API: what a driver author implements.

A driver is a subclass of VifDriver registered in the entry-point group
``vif_driver.drivers``. The framework owns everything else: deciding which
vNICs are ours, parsing and writing the device XML or JSON, turning errors
into VDSM exit codes and one-line messages, timeouts and dry runs.

Each API method is called for a *before* and an *after* hook point (see
vif_driver.hook.points); ``properties.phase`` tells which.

Errors: raise a VifDriverError subclass with a one-line message that says
what is wrong and how to fix it. The framework turns it into exit code 2 in
a plug or migration-destination before-hook (the VM operation stops, the
file is untouched), 0 with the message as a warning in a teardown
before-hook (hot-unplug, VM stop, migration away: teardown always
proceeds) and 1 in an after-hook, caps or stats (other providers' hooks
still run). Any other exception is reported as an internal error of the
driver.
"""

from __future__ import annotations


class VifDriverError(Exception):
    """An expected failure; the message is shown to the oVirt administrator."""


class InvalidInput(VifDriverError):
    """The device XML, a property or an option is wrong."""


class HostError(VifDriverError):
    """The host cannot do what is asked (switch down, bridge missing, EPERM)."""


class NotReady(VifDriverError):
    """A post-plug check found the vNIC not (yet) connected."""


class Option:
    """A driver option, set in [driver:NAME] of the host config and
    overridable per vNIC by a provider custom property of the same name —
    unless ``host_only``: options that choose which host resources,
    services or credentials the driver uses (a socket, a namespace, a
    provider URL) must not be steerable by a vNIC, least of all through the
    root agent; a vNIC property naming one is refused.

    ``parse`` turns the string into a value or raises ValueError whose
    message says what is expected.
    """

    __slots__ = ("default", "parse", "help", "host_only")

    def __init__(self, default, parse=str, help: str = "", host_only: bool = False):
        self.default = default
        self.parse = parse
        self.help = help
        self.host_only = host_only


class HookContext:
    """The ``properties`` argument of every API call.

    As a read-only mapping it holds the raw properties of the hook run (the
    vNIC's and VM's custom properties, ``vmId``); its attributes hold what the
    framework derived from them, already validated. (The mapping methods are
    spelled out rather than inherited from collections.abc.Mapping, whose
    import costs every stats poll ~0.2x an interpreter start.)
    """

    def __init__(self, *, hook_point: str, phase: str, properties: dict[str, str],
                 options: dict[str, object], timeout: float, dry_run: bool = False,
                 vnic_id: str | None = None, plugin_type: str | None = None,
                 vm_id: str | None = None, plugin_types: tuple[str, ...] = (), driver: str = ""):
        self.hook_point = hook_point
        self.phase = phase  # "before" or "after"
        self._properties = properties
        self.options = options  # driver options: defaults < host config < properties
        self.timeout = timeout  # seconds, the bound for each external call
        self.dry_run = dry_run  # record host changes, do not make them
        self.vnic_id = vnic_id  # the provider's port id (vNIC hooks)
        self.plugin_type = plugin_type
        self.vm_id = vm_id
        self.plugin_types = plugin_types  # caps/stats: the plugin types mapped to this driver
        self.driver = driver  # the name the driver is configured under
        self.actions: list[str] = []
        self.warnings: list[str] = []

    def __getitem__(self, key: str) -> str:
        return self._properties[key]

    def __iter__(self):
        return iter(self._properties)

    def __len__(self) -> int:
        return len(self._properties)

    def __contains__(self, key) -> bool:
        return key in self._properties

    def get(self, key: str, default=None):
        return self._properties.get(key, default)

    def keys(self):
        return self._properties.keys()

    def items(self):
        return self._properties.items()

    def values(self):
        return self._properties.values()

    @property
    def is_before(self) -> bool:
        return self.phase == "before"

    @property
    def failed(self) -> bool:
        """True in the after-hook of a VM operation that failed
        (after_nic_hotplug_fail, after_update_device_fail,
        after_nic_hotunplug_fail: hook points ending in ``_fail``)."""
        return self.hook_point.endswith("_fail")

    def record(self, action: str, write: bool = False) -> None:
        """Note a host read or write (``write=True``: skipped in a dry run);
        replay --dry-run and debug = true print these."""
        self.actions.append(("would " if write and self.dry_run else "") + action)

    def warn(self, message: str) -> None:
        """One line for vdsm.log while the call still succeeds, e.g. caps
        degrading because the backend is down."""
        self.warnings.append(message)

    def caps_section(self, caps: dict) -> dict:
        """This driver's own part of caps: caps['vif_driver']['drivers'][name]."""
        from vif_driver import __version__
        section = caps.setdefault("vif_driver", {})
        section["version"] = __version__
        return section.setdefault("drivers", {}).setdefault(self.driver, {})


class VifDriver:
    """Base class of VIF drivers. Override what your network needs; the
    defaults do nothing and leave the data unchanged.

    One instance serves many calls (the resident agent keeps it), so keep
    per-vNIC state in the call, not on ``self``.
    """

    #: option name -> Option; parsed values reach the calls as properties.options
    options: dict[str, Option] = {}

    #: True once open() was called: this instance serves many calls in a
    #: long-running process (the agent), so warm state (a live backend
    #: connection, caches) pays off. False in a hook process, which makes
    #: one call and exits: keep such a call as cheap as possible there.
    resident: bool = False

    def open(self) -> None:
        """Called once, before the first call, when the driver runs resident
        (``self.resident`` is then True). Start warm state here or lazily in
        the calls; never let it serve stale data (see docs/writing-a-driver.md)."""

    def plug_device(self, domxml, properties: HookContext):
        """Connect a vNIC (VM start, hotplug, device update).

        before: ``domxml`` is the ``<interface>`` lxml element; prepare the
        host and return the element to give libvirt (changed in place or a
        new one). after: check the vNIC got connected; ``domxml`` may be None
        (VDSM often sends an empty file); the return value is ignored.

        after with ``properties.failed`` (after_update_device_fail,
        after_nic_hotunplug_fail): the operation failed and the vNIC stays
        on the running VM; undo only what this operation's before phase
        reserved, re-check the vNIC is connected; never remove its port.
        VDSM runs after_update_device_fail even when our own
        before_update_device refused. (A failed hotplug,
        after_nic_hotplug_fail, calls unplug_device with ``failed`` True.)
        """
        return domxml

    def unplug_device(self, domxml, properties: HookContext) -> None:
        """Disconnect a vNIC (hot-unplug, VM stop, failed hotplug:
        ``properties.failed``); must be idempotent: the port may already be
        gone. ``domxml`` may be None. Best-effort: a failure in the before
        phase is reported as a warning and the VM operation goes on."""

    def migration_source(self, domxml, properties: HookContext) -> None:
        """The VM leaves this host. Do nothing destructive before the
        migration succeeded: the VM may fail back."""

    def migration_destination(self, domxml, properties: HookContext) -> None:
        """The VM arrives. before: make the network ready (``domxml`` is the
        source host's device XML); raise to stop the migration.
        after: check the vNIC got connected."""

    def get_caps(self, caps: dict, properties: HookContext) -> dict | None:
        """Add what the engine needs to know about this host's external
        networks to VDSM's capabilities dict and return it; None leaves
        VDSM's document as it wrote it. Must degrade quietly (return caps
        unchanged) when the backend is down."""
        return caps

    def adds_stats(self, properties: HookContext) -> bool:
        """Whether get_stats may have anything to add this poll, asked
        before VDSM's document is read: VDSM's stats list every link of its
        own network namespace (taps included), so a driver whose vNICs all
        live there answers False, and when no driver answers True the
        framework leaves the document unparsed and as VDSM wrote it (a
        1,000-vNIC poll is ~220 KB of JSON). The default, True, always asks."""
        return True

    def get_stats(self, stats: dict, properties: HookContext) -> dict | None:
        """Add counters of the external vNICs VDSM's ``stats['network']``
        lacks and return the dict; None when there is nothing to add (VDSM
        reports every link it sees, taps included, from the same kernel
        counters: its entries stand, and the hook leaves its document as it
        is, unencoded by us). Called only when adds_stats said True. Must
        degrade quietly when the backend is down."""
        return None

    def wait_bound(self, properties: HookContext) -> float:
        """Seconds this call may spend in a wait of the driver's own, beyond
        its external calls (each bounded by ``properties.timeout``): the OVS
        driver's post-plug check waits up to ``plug_timeout`` for the port.
        Asked before each vNIC call in the agent, which allows the call
        2 x timeout + this before it answers for it as hung (docs/agent.md);
        believed up to 3600. Read only ``properties.options`` and the hook
        point here: no backend call. The default, 0, suits a driver whose
        every wait is bounded by ``properties.timeout``."""
        return 0.0

    def underlays(self, properties: HookContext) -> list[Underlay]:
        """The host devices this driver's external networks depend on right
        now (a tunnel endpoint's device, a physnet's NIC), read from the
        host; [] when none. The framework refuses a network setup that
        would remove, move or break one (docs/network-setup.md). Raise
        HostError when the backend cannot be read: the setup then goes on
        unguarded, with your message as a warning."""
        return []

    def network_setup(self, setup, properties: HookContext) -> None:
        """A host network setup (VDSM's setupNetworks): ``setup`` is a
        ``vif_driver.core.network_setup.NetworkSetup`` (the request, VDSM's
        running config, each network's lower device, rollback or not).
        before (``properties.is_before``): raise InvalidInput (or any
        VifDriverError but HostError and NotReady) to refuse it, exit 2
        (never called in a rollback); HostError when the backend cannot be
        read: the setup goes on, exit 0, your message a warning; after:
        apply what the request asks of this driver, e.g.
        ``setup.underlay_state`` (underlay custom properties); after with ``properties.failed``: nothing was changed
        by the before phase, undo nothing."""

    def close(self) -> None:
        """Release connections (called when a resident agent stops)."""


class Underlay:
    """One host device a driver's external networks depend on.

    ``device``: the Linux device (a NIC, bond, VLAN device or bridge) whose
    removal or change would cut them off; ``kind``: "tunnel" (it holds the
    tunnel endpoint ``address``) or "physnet" (it carries physical network
    ``name``); ``detail``: what it is, for messages ("the OVN tunnel
    endpoint 192.0.2.11 (ovn-encap-ip)"); ``users``: external vNICs on it;
    ``mtu``: the least MTU the device needs (None: no need known);
    ``vlans``: VLAN id -> what uses it, for VLANs the driver manages on it.
    """

    __slots__ = ("device", "kind", "name", "detail", "address", "users", "mtu", "vlans", "driver")

    def __init__(self, device: str, kind: str, name: str, detail: str, *, address: str | None = None,
                 users: int = 0, mtu: int | None = None, vlans: dict[int, str] | None = None):
        self.device, self.kind, self.name, self.detail = device, kind, name, detail
        self.address, self.users, self.mtu = address, users, mtu
        self.vlans = vlans or {}
        self.driver = ""  # set by the framework: the name the driver is configured under

    def __repr__(self) -> str:
        return f"Underlay({self.device!r}, {self.kind!r}, {self.name!r}, users={self.users})"


#: The API: each public method the framework calls on a driver, with the
#: arguments it passes (positionally). Registration (vif_driver.core.registry)
#: refuses a driver class with any other public method (a typo such as
#: ``plug_devices`` would otherwise never be called), an API method that
#: cannot take these arguments, or a malformed option; helpers of your own
#: start with "_".
API_METHODS = {
    "open": (),
    "plug_device": ("domxml", "properties"),
    "unplug_device": ("domxml", "properties"),
    "migration_source": ("domxml", "properties"),
    "migration_destination": ("domxml", "properties"),
    "get_caps": ("caps", "properties"),
    "adds_stats": ("properties",),
    "get_stats": ("stats", "properties"),
    "wait_bound": ("properties",),
    "underlays": ("properties",),
    "network_setup": ("setup", "properties"),
    "close": (),
}

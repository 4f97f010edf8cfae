"""The VDSM hook points we handle and the VIF driver API call each maps to.

Standard library only: the entrypoint consults this table before it knows
whether the vNIC is ours.

| hook point                        | API call              | phase  | data | result written | on failure |
|-----------------------------------|-----------------------|--------|------|----------------|------------|
| before_device_create              | plug_device           | before | XML  | yes            | 2          |
| after_device_create               | plug_device           | after  | XML  | no             | 1          |
| before_nic_hotplug                | plug_device           | before | XML  | yes            | 2          |
| after_nic_hotplug                 | plug_device           | after  | XML  | no             | 1          |
| after_nic_hotplug_fail            | unplug_device         | after  | XML  | no             | 1          |
| before_update_device              | plug_device           | before | XML  | yes            | 2          |
| after_update_device               | plug_device           | after  | XML  | no             | 1          |
| after_update_device_fail          | plug_device           | after  | XML  | no             | 1          |
| before_nic_hotunplug              | unplug_device         | before | XML  | no             | 0, warning |
| after_nic_hotunplug               | unplug_device         | after  | XML  | no             | 1          |
| after_nic_hotunplug_fail          | plug_device           | after  | XML  | no             | 1          |
| before_device_migrate_source      | migration_source      | before | XML  | no             | 0, warning |
| after_device_migrate_source       | migration_source      | after  | XML  | no             | 1          |
| before_device_migrate_destination | migration_destination | before | XML  | no             | 2          |
| after_device_migrate_destination  | migration_destination | after  | XML  | no             | 1          |
| before_device_destroy             | unplug_device         | before | XML  | no             | 0, warning |
| after_device_destroy              | unplug_device         | after  | XML  | no             | 1          |
| after_get_caps                    | get_caps              | after  | JSON | yes            | 1          |
| after_get_stats                   | get_stats             | after  | JSON | yes            | 1          |
| before_network_setup              | network_setup         | before | JSON | no             | 0, warning |
| after_network_setup               | network_setup         | after  | JSON | no             | 1          |
| after_network_setup_fail          | network_setup         | after  | JSON | no             | 1          |

"On failure" is the exit code of any failure (``HookPoint.fail_code``). A
before-hook stops the VM operation (2) only where stopping protects the
guest: plugging, and a migration before it lands here. The before-hooks of
teardown (hot-unplug, VM stop, migration away; ``HookPoint.teardown``) are
best-effort like CNI's DEL: whatever goes wrong, they exit 0 with one
warning line, since refusing would leave VDSM unable to power off,
hot-unplug or migrate the VM away, with nothing gained. After-hooks exit 1:
VDSM only logs it and other providers' scripts still run.

The ``*_fail`` points run after a failed operation (VDSM runs
after_update_device_fail even when our own before_update_device refused);
HookContext.failed is True there.

The network-setup points run as root in supervdsm (no vNIC, no custom
properties in the environment): vif_driver.hook.netsetup answers them in
the hook's own process, never through the agent. At before_network_setup
our own failures (VDSM's request unreadable, a backend down, a bug) exit 0
with one warning line: our outage never blocks the administrator's host
network change. Only a refusal (the request would break an underlay that
external vNICs use; REFUSED) exits 2.
"""

from __future__ import annotations

PLUG = "plug_device"
UNPLUG = "unplug_device"
MIGRATION_SOURCE = "migration_source"
MIGRATION_DESTINATION = "migration_destination"
GET_CAPS = "get_caps"
GET_STATS = "get_stats"
NETWORK_SETUP = "network_setup"

BEFORE = "before"
AFTER = "after"

#: before_network_setup's exit code for a refusal: VDSM aborts the setup, runs
#: no later script and shows our line (a refusal is no failure: fail_code is 0)
REFUSED = 2


class HookPoint:
    """One row of the table above.

    A plain class, not a NamedTuple or dataclass: importing typing or
    dataclasses would cost every foreign vNIC's hook run several ms.
    """

    __slots__ = ("name", "call", "phase", "json", "writes", "teardown")

    def __init__(self, name: str, call: str, phase: str, json: bool, writes: bool,
                 teardown: bool = False):
        self.name = name
        self.call = call
        self.phase = phase
        self.json = json  # data in $_hook_json (else device XML in $_hook_domxml)
        self.writes = writes  # VDSM uses the data we leave in the file
        # a before-hook of an operation taking the vNIC off this host: never stopped
        self.teardown = teardown

    def __repr__(self) -> str:
        return f"HookPoint({self.name!r}, {self.call!r}, {self.phase!r})"

    @property
    def env_var(self) -> str:
        return "_hook_json" if self.json else "_hook_domxml"

    @property
    def failed(self) -> bool:
        """An after-hook of an operation that failed (``*_fail``)."""
        return self.name.endswith("_fail")

    @property
    def fail_code(self) -> int:
        """Exit code for a failure: 2 stops a before-hook and the VM operation;
        teardown before-hooks use 0 (best-effort: VDSM must be able to stop,
        unplug or migrate away whatever went wrong), and so does
        before_network_setup (a failure of ours must not block the host's
        network; its refusals exit REFUSED), after-hooks 1 so other
        providers' scripts still run."""
        if self.phase == BEFORE:
            return 0 if self.teardown or self.call == NETWORK_SETUP else 2
        return 1


def _table() -> dict[str, HookPoint]:
    rows = [
        ("before_device_create", PLUG, BEFORE, False, True),
        ("after_device_create", PLUG, AFTER, False, False),
        ("before_nic_hotplug", PLUG, BEFORE, False, True),
        ("after_nic_hotplug", PLUG, AFTER, False, False),
        ("after_nic_hotplug_fail", UNPLUG, AFTER, False, False),
        ("before_update_device", PLUG, BEFORE, False, True),
        ("after_update_device", PLUG, AFTER, False, False),
        ("after_update_device_fail", PLUG, AFTER, False, False),
        ("before_nic_hotunplug", UNPLUG, BEFORE, False, False, True),
        ("after_nic_hotunplug", UNPLUG, AFTER, False, False),
        ("after_nic_hotunplug_fail", PLUG, AFTER, False, False),
        ("before_device_migrate_source", MIGRATION_SOURCE, BEFORE, False, False, True),
        ("after_device_migrate_source", MIGRATION_SOURCE, AFTER, False, False),
        ("before_device_migrate_destination", MIGRATION_DESTINATION, BEFORE, False, False),
        ("after_device_migrate_destination", MIGRATION_DESTINATION, AFTER, False, False),
        ("before_device_destroy", UNPLUG, BEFORE, False, False, True),
        ("after_device_destroy", UNPLUG, AFTER, False, False),
        ("after_get_caps", GET_CAPS, AFTER, True, True),
        ("after_get_stats", GET_STATS, AFTER, True, True),
        ("before_network_setup", NETWORK_SETUP, BEFORE, True, False),
        ("after_network_setup", NETWORK_SETUP, AFTER, True, False),
        ("after_network_setup_fail", NETWORK_SETUP, AFTER, True, False),
    ]
    return {row[0]: HookPoint(*row) for row in rows}  # type: ignore[arg-type, misc]


HOOK_POINTS = _table()

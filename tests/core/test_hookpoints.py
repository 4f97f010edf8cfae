"""The hook-point table: every vNIC hook of the contract maps to one API call."""

import os
import re

import pytest

from vif_driver.api import VifDriver
from vif_driver.hook import points as hookpoints
from vif_driver.hook.points import HOOK_POINTS

REQUIRED = """before_device_create after_device_create before_nic_hotplug after_nic_hotplug
after_nic_hotplug_fail before_update_device after_update_device after_update_device_fail
before_nic_hotunplug after_nic_hotunplug after_nic_hotunplug_fail
before_device_migrate_source after_device_migrate_source before_device_migrate_destination
after_device_migrate_destination before_device_destroy after_device_destroy after_get_caps
after_get_stats""".split()


def test_every_required_hook_point_maps_to_an_api_call():
    assert set(REQUIRED) <= set(HOOK_POINTS)
    for point in HOOK_POINTS.values():
        assert callable(getattr(VifDriver, point.call))
        assert point.phase == point.name.split("_", 1)[0]


def test_exit_codes_by_phase():
    assert HOOK_POINTS["before_device_create"].fail_code == 2
    assert HOOK_POINTS["after_device_create"].fail_code == 1
    assert HOOK_POINTS["after_get_caps"].fail_code == 1


def test_only_plug_and_migration_destination_may_stop_the_vm_operation():
    stopping = {p.name for p in HOOK_POINTS.values() if p.fail_code == 2}
    assert stopping == {"before_device_create", "before_nic_hotplug", "before_update_device",
                        "before_device_migrate_destination"}
    teardown = {p.name for p in HOOK_POINTS.values() if p.teardown}
    assert teardown == {"before_nic_hotunplug", "before_device_destroy", "before_device_migrate_source"}
    # a failure of ours never blocks a host network change; only a refusal does (REFUSED)
    assert {p.name for p in HOOK_POINTS.values() if p.fail_code == 0} == teardown | {"before_network_setup"}
    assert hookpoints.REFUSED == 2
    assert all(p.fail_code == 1 for p in HOOK_POINTS.values() if p.phase == "after")


def test_failed_operations_map_as_agreed():
    """after_*_fail: the operation failed; plug_device (the vNIC stays on the
    VM) except a failed hotplug, whose vNIC never arrived (unplug_device)."""
    failed = {p.name: (p.call, p.phase) for p in HOOK_POINTS.values() if p.failed}
    assert failed == {"after_nic_hotplug_fail": ("unplug_device", "after"),
                      "after_update_device_fail": ("plug_device", "after"),
                      "after_nic_hotunplug_fail": ("plug_device", "after"),
                      "after_network_setup_fail": ("network_setup", "after")}


def test_only_results_vdsm_uses_are_written():
    writes = {p.name for p in HOOK_POINTS.values() if p.writes}
    assert writes == {"before_device_create", "before_nic_hotplug", "before_update_device",
                      "after_get_caps", "after_get_stats"}


def _table_rows(text):
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 6 and re.fullmatch(r"(before|after)_\w+", cells[0]):
            rows[cells[0]] = (cells[1], cells[2], cells[3] == "JSON", cells[4] == "yes",
                              int(cells[5].split(",")[0]))
    return rows


def test_documented_tables_match_the_code():
    expected = {p.name: (p.call, p.phase, p.json, p.writes, p.fail_code) for p in HOOK_POINTS.values()}
    assert _table_rows(hookpoints.__doc__) == expected
    docs = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "hooks.md")
    with open(docs) as f:
        assert _table_rows(f.read()) == expected


class Recorder(VifDriver):
    def __init__(self):
        self.calls = []

    def _record(self, name, ctx):
        self.calls.append((name, ctx.phase, ctx.failed))

    def plug_device(self, domxml, properties):
        self._record("plug_device", properties)
        return domxml

    def unplug_device(self, domxml, properties):
        self._record("unplug_device", properties)


@pytest.mark.parametrize("point, call, failed", [
    ("after_update_device_fail", "plug_device", True),
    ("after_nic_hotunplug_fail", "plug_device", True),
    ("after_nic_hotplug_fail", "unplug_device", True),
    ("after_update_device", "plug_device", False),
    ("after_nic_hotunplug", "unplug_device", False),
])
def test_drivers_see_failed_operations(monkeypatch, point, call, failed):
    from vif_driver.core import config, dispatch
    from vif_driver.hook.protocol import Request
    driver = Recorder()
    monkeypatch.setattr(dispatch, "load_driver", lambda name: driver)
    props = {"provider_type": "EXTERNAL_NETWORK", "plugin_type": "OPEN_VSWITCH",
             "vnic_id": "6a9f5e2b-71a3-4c1e-9d1b-2f4e6a8c0b13"}
    response = dispatch.handle(Request(point, "", props), config.HostConfig())
    assert response.exit_code == 0, response.messages
    assert driver.calls == [(call, "after", failed)]


def test_failed_is_read_only():
    from vif_driver.api import HookContext
    ctx = HookContext(hook_point="after_update_device_fail", phase="after", properties={}, options={}, timeout=1)
    assert ctx.failed
    with pytest.raises(AttributeError):
        ctx.failed = False

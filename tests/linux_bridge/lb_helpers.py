"""Helpers of the Linux bridge driver's tests (a module of its own: pytest
gives the name 'conftest' to each test directory's conftest in turn)."""

import os
import warnings

from support import FIXTURES, VM_ID, VNIC_ID, external_props, require, require_root, require_tool  # noqa: F401

OTHER_VNIC = "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0"
LIFECYCLE = os.path.join(FIXTURES, "lifecycle", "linux_bridge")

XML_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fixtures", "xml")
ENGINE_XML = open(os.path.join(XML_DIR, "engine-nic.xml"), encoding="utf-8").read()
PLUGIN_TYPE = "LINUX_BRIDGE"
# Caps and stats hooks run every configured driver: map only this one.
ONLY_LB = "[plugin_types]\nOPEN_VSWITCH =\nOVIRT_PROVIDER_OVN =\nLINUX_BRIDGE = linux_bridge"

_uplink_kind = None


def uplink_kind() -> str:
    """802.1Q VLAN devices where the kernel has them. A kernel built without
    CONFIG_VLAN_8021Q (this project's machines, CI's included: no install
    step can add it) gets the driver's vxlan stand-in, which keeps every
    other part of the tests real; the 802.1Q-only trunk test is skipped."""
    global _uplink_kind
    if _uplink_kind is None:
        from vif_driver.tools.sandbox.netns import kernel_supports
        if kernel_supports("vlan"):
            _uplink_kind = "vlan"
        else:
            warnings.warn("kernel without 8021q: VLAN devices replaced by the vxlan stand-in", stacklevel=2)
            _uplink_kind = "vxlan"
    return _uplink_kind


def lb_props(vnic_id=VNIC_ID, **extra):
    return external_props(PLUGIN_TYPE, vnic_id, **extra)


def tap_of(vnic_id: str) -> str:
    return "tap" + vnic_id[:11]


def state(ns) -> "dict[str, tuple]":
    """What matters of every device in the namespace, comparable across runs."""
    result = {}
    for name, link in ns.links().items():
        info = link.get("linkinfo", {})
        data = info.get("info_data", {})
        result[name] = (info.get("info_kind"), link.get("master"), link.get("mtu"), "UP" in link.get("flags", []),
                        link.get("ifalias"), data.get("id"))
    return result


def attach_tap(ns, vnic_id: str, bridge: str) -> str:
    """libvirt's part of a plug: create the tap and attach it, up."""
    tap = tap_of(vnic_id)
    ns.tap(tap, master=bridge)
    return tap

"""Helpers of the ovs driver tests (a module of its own: the name 'conftest'
is given to each test directory's conftest in turn, so it is no place to
import helpers from)."""

import os

import support
from support import FIXTURES, VM_ID, VNIC_ID, require, require_root, require_tool

__all__ = ["FIXTURES", "VM_ID", "VNIC_ID", "require", "require_root", "require_tool"]

OTHER_VNIC = "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0"
MAC = "00:1a:4a:16:01:51"
LIFECYCLE = os.path.join(FIXTURES, "lifecycle", "ovs")
OVS_TOOLS = ("ovsdb-tool", "ovsdb-server", "ovs-vswitchd", "ovs-vsctl", "ovs-appctl", "ip")

ENGINE_XML = """<?xml version='1.0' encoding='utf-8'?>
<interface type="bridge">
    <address bus="0x01" domain="0x0000" function="0x0" slot="0x00" type="pci"/>
    <mac address="00:1a:4a:16:01:51"/>
    <model type="virtio"/>
    <source bridge=";vdsmdummy;"/>
    <link state="up"/>
    <filterref filter="vdsm-no-mac-spoofing"/>
    <bandwidth/>
    <alias name="ua-6a9f5e2b-71a3-4c1e-9d1b-2f4e6a8c0b13"/>
</interface>
"""


def props(vnic_id=VNIC_ID, plugin_type="OPEN_VSWITCH", **extra):
    return support.external_props(plugin_type=plugin_type, vnic_id=vnic_id, **extra)


def tap(vnic_id=VNIC_ID) -> str:
    return "tap" + vnic_id[:11]


def snapshot(box) -> list:
    """The switch state a hook may change: every port with its interface's
    name, external_ids and ofport."""
    state = []
    for bridge in sorted(box.vsctl("list-br", wait=False).split()):
        for port in box.ports(bridge):
            row = box.interface(port)
            state.append((bridge, port, sorted(row["external_ids"].items()), row["ofport"]))
    return state

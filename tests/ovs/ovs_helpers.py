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

with open(os.path.join(FIXTURES, "xml", "engine-nic.xml"), encoding="utf-8") as _f:
    ENGINE_XML = _f.read()  # the engine's XML at VM start


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


def docs_json(doc: str, after: str) -> str:
    """The first ```json block after the line ``after`` in docs/DOC."""
    path = os.path.join(os.path.dirname(support.HERE), "docs", doc)
    with open(path, encoding="utf-8") as f:
        text = f.read()
    rest = text[text.index(after):]
    return rest.split("```json\n", 1)[1].split("```", 1)[0]

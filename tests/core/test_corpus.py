"""Every hook point on the fixture corpus, through the test driver: the form
VDSM reads back, idempotency, empty files, and libvirt's own parser."""

import json
import os
import xml.dom.minidom

import pytest

from vif_driver.hook.points import HOOK_POINTS

from support import FIXTURES, external_props

DEVICE_XML = ["engine-nic.xml", "hotplug-nic.xml", "update-nic.xml", "minidom-style.xml", "running-nic.xml"]
VNIC_POINTS = sorted(p.name for p in HOOK_POINTS.values() if not p.json)


def read(name):
    with open(os.path.join(FIXTURES, "xml", name), "rb") as f:
        return f.read()


@pytest.mark.parametrize("name", DEVICE_XML)
@pytest.mark.parametrize("point", ["before_device_create", "before_nic_hotplug", "before_update_device"])
def test_plug_rewrite_is_complete_idempotent_and_libvirt_valid(run_hook, test_env, libvirt_define, point, name):
    props = external_props("TEST_SDN")
    first = run_hook(point, read(name), env=test_env, device_properties=props)
    assert first.rc == 0, first.stderr
    assert first.data.startswith(b"<?xml version='1.0' encoding='utf-8'?>\n<interface")
    dom = xml.dom.minidom.parseString(first.data)  # how VDSM reads it back
    assert dom.documentElement.tagName == "interface"
    assert len(dom.getElementsByTagName("source")) == 1
    second = run_hook(point, first.data, env=test_env, device_properties=props)
    assert second.data == first.data
    original = dom_children(read(name))
    kept = dom_children(first.data)
    assert original - {"source", "target"} <= kept
    defined = libvirt_define(first.text)
    assert "<source bridge='br-test'/>" in defined
    assert "<target dev='tap6a9f5e2b-71'/>" in defined


def dom_children(data):
    root = xml.dom.minidom.parseString(data).documentElement
    return {n.tagName for n in root.childNodes if n.nodeType == n.ELEMENT_NODE}


@pytest.mark.parametrize("point", VNIC_POINTS)
def test_every_vnic_hook_point_calls_its_api_method(run_hook, test_env, tmp_path, point):
    log = tmp_path / "calls.log"
    data = b"" if not HOOK_POINTS[point].writes else read("engine-nic.xml")
    run = run_hook(point, data, env=test_env, device_properties=external_props("TEST_SDN", log=str(log)))
    assert run.rc == 0, run.stderr
    (call,) = [json.loads(line) for line in log.read_text().splitlines()]
    assert call["call"] == HOOK_POINTS[point].call
    assert call["phase"] == HOOK_POINTS[point].phase
    assert call["hook_point"] == point
    assert call["empty"] == (data == b"")
    if not HOOK_POINTS[point].writes:
        assert run.data == data  # VDSM ignores it; we never touch it


@pytest.mark.parametrize("point, name", [("after_get_caps", "caps.json"), ("after_get_stats", "stats.json")])
def test_host_hooks_keep_vdsm_data_and_add_ours(run_hook, test_env, point, name):
    with open(os.path.join(FIXTURES, "json", name)) as f:
        original = json.load(f)
    run = run_hook(point, original, env=test_env)
    assert run.rc == 0, run.stderr
    result = run.json()
    for key, value in original.items():
        if key != "network":
            assert result[key] == value
    again = run_hook(point, result, env=test_env)
    assert again.json() == result


def test_per_vnic_property_overrides_host_option(run_hook, test_env):
    run = run_hook("before_device_create", read("engine-nic.xml"), env=test_env,
                   device_properties=external_props("TEST_SDN", bridge="br-provider"))
    assert b'<source bridge="br-provider"/>' in run.data

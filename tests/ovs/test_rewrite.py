"""The plug rewrite (before_device_create, before_nic_hotplug,
before_update_device): pure XML, checked by libvirt's own parser."""

import os
import subprocess
import sys

import pytest
from lxml import etree

from vif_driver.core import domxml
from vif_driver.drivers.ovs import rewrite

from ovs_helpers import ENGINE_XML, OTHER_VNIC, VNIC_ID, props, tap

PLUG_POINTS = ["before_device_create", "before_nic_hotplug", "before_update_device"]


def _parse(text):
    return domxml.parse_device(text)


def test_rewrite_sets_bridge_virtualport_and_target_and_keeps_the_rest():
    out = rewrite.plug(_parse(ENGINE_XML), VNIC_ID, "br-int")
    assert out.get("type") == "bridge"
    assert [s.attrib for s in out.findall("source")] == [{"bridge": "br-int"}]
    ports = out.findall("virtualport")
    assert len(ports) == 1 and ports[0].get("type") == "openvswitch"
    assert ports[0].find("parameters").get("interfaceid") == VNIC_ID
    assert out.find("target").get("dev") == "tap6a9f5e2b-71" == tap()
    assert out.find("mtu") is None
    kept = [c.tag for c in out if c.tag not in ("source", "virtualport", "target")]
    assert kept == ["address", "mac", "model", "link", "filterref", "bandwidth", "boot"]  # engine-nic.xml
    assert out.find("mac").get("address") == "00:1a:4a:16:01:51"
    assert out.find("filterref").get("filter") == "vdsm-no-mac-spoofing"


def test_stale_virtualports_are_replaced_by_exactly_one():
    xml = ENGINE_XML.replace("<link", "<virtualport type='openvswitch'><parameters interfaceid='old'/>"
                                      "</virtualport><virtualport type='802.1Qbh'/><link")
    out = rewrite.plug(_parse(xml), VNIC_ID, "br-int")
    ports = out.findall("virtualport")
    assert len(ports) == 1
    assert etree.tostring(ports[0]) == (b'<virtualport type="openvswitch"><parameters interfaceid="'
                                        + VNIC_ID.encode() + b'"/></virtualport>')


def test_mtu_is_written_only_when_given():
    with_mtu = rewrite.plug(_parse(ENGINE_XML), VNIC_ID, "br-int", 1450)
    assert with_mtu.find("mtu").attrib == {"size": "1450"}
    existing = ENGINE_XML.replace("<link", "<mtu size='9000'/><link")
    assert rewrite.plug(_parse(existing), VNIC_ID, "br-int").find("mtu").get("size") == "9000"
    assert rewrite.plug(_parse(existing), VNIC_ID, "br-int", 1400).findall("mtu")[0].get("size") == "1400"


def test_rewrite_of_its_own_output_changes_nothing():
    once = domxml.serialize_device(rewrite.plug(_parse(ENGINE_XML), VNIC_ID, "br-int", 1450))
    twice = domxml.serialize_device(rewrite.plug(_parse(once), VNIC_ID, "br-int", 1450))
    assert once == twice


@pytest.mark.parametrize("hook_point", PLUG_POINTS)
def test_hook_output_is_accepted_by_libvirt(run_hook, hook_point, libvirt_define, config_file):
    config = config_file("[driver:ovs]\nmtu = 1450\n")
    run = run_hook(hook_point, ENGINE_XML, device_properties=props(), config=config)
    assert run.rc == 0, run.stderr
    dumped = etree.fromstring(libvirt_define(run.text).encode())
    iface = dumped.find("devices/interface")
    assert iface.get("type") == "bridge"
    assert iface.find("source").get("bridge") == "br-int"
    assert iface.find("virtualport").get("type") == "openvswitch"
    assert iface.find("virtualport/parameters").get("interfaceid") == VNIC_ID
    # plug names the tap; update-device adds no <target> (libvirt's test driver then names it)
    assert (iface.find("target").get("dev") == tap()) == (hook_point != "before_update_device")
    assert iface.find("mtu").get("size") == "1450"
    assert iface.find("mac").get("address") == "00:1a:4a:16:01:51"


@pytest.mark.parametrize("hook_point", PLUG_POINTS)
def test_hook_twice_gives_the_same_xml(run_hook, hook_point):
    first = run_hook(hook_point, ENGINE_XML, device_properties=props())
    second = run_hook(hook_point, first.text, device_properties=props())
    assert first.rc == second.rc == 0
    assert first.text == second.text != ENGINE_XML


def test_update_device_reapplies_the_rewrite_to_vdsms_rebuilt_xml(run_hook):
    """VDSM rebuilds the device XML for update-device without earlier hook
    edits (link state change); the rewrite must come back."""
    rebuilt = ENGINE_XML.replace('<link state="up"/>', '<link state="down"/><target dev="tap6a9f5e2b-71"/>')
    run = run_hook("before_update_device", rebuilt, device_properties=props())
    assert run.rc == 0, run.stderr
    out = _parse(run.text)
    assert out.find("link").get("state") == "down"
    assert len(out.findall("target")) == 1 and out.find("virtualport/parameters") is not None


@pytest.mark.parametrize("target", ["", '<target dev="vnet7"/>', '<target dev="tap6a9f5e2b-71"/>'])
def test_update_device_keeps_the_running_taps_name(run_hook, target, libvirt_define):
    """A VM started before the hook was installed (or under another
    provider's hook) has a tap libvirt named itself (vnetN); libvirt refuses
    an update that renames it, so update-device keeps <target> as it is and
    adds none."""
    rebuilt = ENGINE_XML.replace('<link state="up"/>', '<link state="down"/>' + target)
    run = run_hook("before_update_device", rebuilt, device_properties=props())
    assert run.rc == 0, run.stderr
    out = _parse(run.text)
    assert [t.attrib for t in out.findall("target")] == ([_parse(f"<interface>{target}</interface>")
                                                          .find("target").attrib] if target else [])
    assert out.find("virtualport/parameters").get("interfaceid") == VNIC_ID
    iface = etree.fromstring(libvirt_define(run.text).encode()).find("devices/interface")
    assert iface.find("virtualport/parameters").get("interfaceid") == VNIC_ID
    if "tap" in target:  # libvirt drops vnetN names in a define: they are its own, given at start
        assert iface.find("target").get("dev") == tap()


@pytest.mark.parametrize("hook_point", ["before_device_create", "before_nic_hotplug", "before_update_device",
                                        "before_device_migrate_destination"])
def test_vnic_id_that_is_not_a_uuid_is_refused(run_hook, hook_point):
    """libvirt parses interfaceid as a UUID and would fail the VM start
    ("cannot parse interfaceid parameter as a uuid")."""
    run = run_hook(hook_point, ENGINE_XML, device_properties=props(vnic_id="port_1"))
    assert run.rc == 2 and run.aborted
    assert run.stderr.count("\n") == 1 and len(run.stderr) <= 240
    assert "vnic_id" in run.stderr and "'port_1' is not a UUID" in run.stderr
    assert "6a9f5e2b-71a3-4c1e-9d1b-2f4e6a8c0b13" in run.stderr
    assert run.text == ENGINE_XML


@pytest.mark.parametrize("hook_point", ["before_nic_hotunplug", "before_device_destroy",
                                        "before_device_migrate_source"])
def test_teardown_never_blocks_on_a_bad_vnic_id(run_hook, hook_point):
    run = run_hook(hook_point, ENGINE_XML, device_properties=props(vnic_id="port_1"))
    assert run.rc == 0 and not run.aborted and run.text == ENGINE_XML


def test_bridge_per_host_and_per_provider(run_hook, config_file):
    config = config_file("[driver:ovs]\nbridge = br-host\n")
    host = run_hook("before_device_create", ENGINE_XML, device_properties=props(), config=config)
    assert _parse(host.text).find("source").get("bridge") == "br-host"
    provider = run_hook("before_device_create", ENGINE_XML, device_properties=props(bridge="br-prov"),
                        config=config)
    assert _parse(provider.text).find("source").get("bridge") == "br-prov"


@pytest.mark.parametrize("prop, value, words", [
    ("bridge", "br;rm -rf", "property bridge"),
    ("bridge", "a-very-long-bridge-name", "15-character limit"),
    ("mtu", "10", "property mtu"),
    ("plug_timeout", "-1", "property plug_timeout is host configuration only"),
])
def test_bad_options_stop_the_plug_with_a_clear_message(run_hook, prop, value, words):
    run = run_hook("before_device_create", ENGINE_XML, device_properties=props(**{prop: value}))
    assert run.rc == 2 and run.aborted
    assert words in run.stderr and run.stderr.count("\n") == 1
    assert run.text == ENGINE_XML


@pytest.mark.parametrize("value, words", [("unix:relative.sock", "unix:/absolute/path"),
                                          ("tcp:host", "tcp:HOST:PORT")])
def test_bad_ovsdb_remote_in_the_host_config(run_hook, config_file, value, words):
    config = config_file(f"[plugin_types]\nLINUX_BRIDGE =\n[driver:ovs]\novsdb = {value}\n")
    run = run_hook("before_device_create", ENGINE_XML, device_properties=props(), config=config)
    assert run.rc == 2 and run.aborted
    assert words in run.stderr and "config [driver:ovs] ovsdb" in run.stderr and run.stderr.count("\n") == 1
    assert run.text == ENGINE_XML


def test_other_vnics_and_providers_are_left_alone(run_hook):
    other = run_hook("before_device_create", ENGINE_XML, device_properties=props(plugin_type="OTHER_SDN"))
    assert other.rc == 0 and other.text == ENGINE_XML
    second = run_hook("before_device_create", ENGINE_XML, device_properties=props(vnic_id=OTHER_VNIC))
    assert _parse(second.text).find("target").get("dev") == tap(OTHER_VNIC)


def test_plug_rewrite_does_not_touch_ovs(tmp_path, config_file):
    """No ovs import, no OVSDB connection: the plug works with no switch at
    all and loads only lxml on top of the framework."""
    xml = tmp_path / "device.xml"
    xml.write_text(ENGINE_XML)
    config = config_file(f"[driver:ovs]\novsdb = unix:{tmp_path}/absent.sock\n")
    code = ("import sys; from vif_driver.hook import entry; rc = entry.main('before_device_create'); "
            "bad = sorted(m for m in sys.modules if m == 'ovs' or m.startswith(('ovs.', "
            "'ovsdbapp', 'vif_driver.drivers.ovs.ovsdb', 'vif_driver.drivers.ovs.view'))); "
            "print(rc, bad)")
    env = dict(os.environ, _hook_domxml=str(xml), VIF_DRIVER_CONFIG=config, **props())
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=30, check=True)
    assert out.stdout.strip() == "0 []", out.stderr
    assert "openvswitch" in xml.read_text()

"""The OVS driver's side of network types through the installed hooks,
without the provider: vNIC custom properties name the network."""

import pytest
from lxml import etree

from vif_driver.drivers.ovs import networks
from vif_driver.tools.sandbox.hosts import engine_interface

from support import VM_ID, VNIC_ID, external_props

MAC = "00:1a:4a:16:01:51"
TAP = "tap" + VNIC_ID[:11]


@pytest.fixture
def host(cluster):
    return cluster.add_host("h1")


def _config(host, config_file, extra="", mappings="physnet1:br-phys1"):
    return config_file(f"""
        [plugin_types]
        LINUX_BRIDGE =
        [driver:ovs]
        ovsdb = {host.box.remote}
        netns = {host.box.netns}
        plug_timeout = 1
        bridge_mappings = {mappings}
        {extra}
    """)


def test_vlan_plug_is_libvirt_xml_and_idempotent(run_hook, config_file, host, libvirt_define):
    config = _config(host, config_file)
    props = external_props(network_type="vlan", physical_network="physnet1", segmentation_id="120")
    first = run_hook("before_device_create", engine_interface(MAC), config=config, device_properties=props)
    assert first.rc == 0, first.stderr
    again = run_hook("before_device_create", first.data, config=config, device_properties=props)
    assert again.data == first.data
    dumped = etree.fromstring(libvirt_define(first.text).encode())
    assert dumped.find("devices/interface/vlan/tag").get("id") == "120"
    assert dumped.find("devices/interface/source").get("bridge") == "br-phys1"
    flat = dict(props, network_type="flat")
    del flat["segmentation_id"]
    untagged = run_hook("before_device_create", first.data, config=config, device_properties=flat)
    assert untagged.rc == 0 and b"<vlan" not in untagged.data  # a stale <vlan> goes


def test_post_plug_confirms_the_tag(run_hook, config_file, host):
    config = _config(host, config_file)
    props = external_props(network_type="local", local_tag="33")
    plugged = run_hook("before_device_create", engine_interface(MAC), config=config, device_properties=props)
    assert plugged.rc == 0
    host.box.plug_tap(TAP, iface_id=VNIC_ID, mac=MAC, vm_id=VM_ID)  # libvirt ignoring <vlan>: untagged
    for data in ("", plugged.data):  # VDSM's empty XML or the plugged one
        run = run_hook("after_device_create", data, config=config, device_properties=props)
        assert run.rc == 1 and "tag (none), expected 33" in run.stderr and run.stderr.count("\n") == 1
    host.box.vsctl("set", "Port", TAP, "tag=33")
    assert run_hook("after_device_create", "", config=config, device_properties=props).rc == 0
    assert run_hook("after_device_create", plugged.data, config=config, device_properties=props).rc == 0


@pytest.mark.parametrize("mappings,props,words", [
    ("physnet1:br-phys1", {"network_type": "vlan", "physical_network": "physnet2", "segmentation_id": "5"},
     ["physnet2", "bridge_mappings", "[driver:ovs]"]),
    ("", {"network_type": "vlan", "physical_network": "physnet1", "segmentation_id": "5"},
     ["physnet1", "mapped: none", "bridge_mappings"]),
    ("physnet1:br-phys1", {"network_type": "vxlan"}, ["vxlan", "OVN"]),
    ("physnet1:br-phys1", {"network_type": "local"}, ["local_tag"]),
    ("physnet1", {}, ["bridge_mappings", "PHYSNET:BRIDGE"]),
])
def test_what_cannot_be_placed_is_refused_untouched(run_hook, config_file, host, mappings, props, words):
    config = _config(host, config_file, mappings=mappings)
    before = host.box.vsctl("show", wait=False)
    engine = engine_interface(MAC).encode()
    run = run_hook("before_device_create", engine, config=config, device_properties=external_props(**props))
    assert run.rc == 2 and run.data == engine
    assert run.stderr.count("\n") == 1 and all(w in run.stderr for w in words), run.stderr
    assert host.box.vsctl("show", wait=False) == before


def test_bridge_mappings_must_not_come_from_a_vnic(run_hook, config_file, host):
    engine = engine_interface(MAC).encode()
    run = run_hook("before_device_create", engine, config=_config(host, config_file),
                   device_properties=external_props(bridge_mappings="physnet1:br-evil"))
    assert run.rc == 2 and run.data == engine and "bridge_mappings" in run.stderr


def test_caps_report_the_physnet_mappings(run_hook, config_file, host):
    config = _config(host, config_file, mappings="physnet1:br-phys1,physnet2:br-none")
    run = run_hook("after_get_caps", {}, config=config)
    assert run.rc == 0, run.stderr
    assert run.json()["vif_driver"]["drivers"]["ovs"]["bridge_mappings"] == {
        "physnet1": {"bridge": "br-phys1", "exists": True}, "physnet2": {"bridge": "br-none", "exists": False}}


def test_parse_bridge_mappings():
    assert networks.parse_bridge_mappings(" a:br-a , b:br-b,") == {"a": "br-a", "b": "br-b"}
    for bad, says in [("a:br-a,a:br-b", "twice"), ("a:br-x,b:br-x", "mapped to both"),
                      ("a:bridge-name-too-long", "15-character limit"), ("a", "PHYSNET:BRIDGE")]:
        with pytest.raises(ValueError, match=says):
            networks.parse_bridge_mappings(bad)


def test_stats_and_unplug_of_a_tagged_vnic_on_a_physnet_bridge(run_hook, config_file, host):
    config = _config(host, config_file)
    props = external_props(network_type="vlan", physical_network="physnet1", segmentation_id="130")
    plugged = run_hook("before_device_create", engine_interface(MAC), config=config, device_properties=props)
    host.box.plug_tap(TAP, iface_id=VNIC_ID, mac=MAC, vm_id=VM_ID, bridge="br-phys1")
    host.box.vsctl("set", "Port", TAP, "tag=130")
    assert run_hook("after_device_create", "", config=config, device_properties=props).rc == 0
    stats = run_hook("after_get_stats", {"network": {}}, config=config)
    assert stats.rc == 0 and TAP in stats.json()["network"]
    destroyed = run_hook("after_device_destroy", plugged.data, config=config, device_properties=props)
    assert destroyed.rc == 0, destroyed.stderr
    assert TAP not in host.box.ports("br-phys1")

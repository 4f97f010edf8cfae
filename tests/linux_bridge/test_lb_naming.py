"""Pure parts: option resolution, derived names, the XML rewrite."""

import pytest
from lxml import etree

from vif_driver.core import domxml
from vif_driver.drivers.linux_bridge import LinuxBridgeDriver, naming, rewrite, tap_name

from lb_helpers import ENGINE_XML, VNIC_ID


def test_derived_names_are_deterministic_and_fit_the_kernel():
    assert naming.bridge_name("physnet1", 100) == naming.bridge_name("physnet1", 100)
    assert naming.bridge_name("physnet1", 100) != naming.bridge_name("physnet2", 100)
    assert naming.bridge_name("physnet1", 100) != naming.bridge_name("physnet1", 101)
    longest = naming.bridge_name("p" * 64, 4094)
    assert len(longest) <= 15 and longest.startswith("vb4094-")
    assert naming.bridge_name("physnet1", 100) == "vb100-" + naming._hash("physnet1")
    assert naming._hash("a") == "e40c292c"
    # FNV-1a (test vector: "a" -> e40c292c): the same on every host, forever
    assert naming._hash("physnet1") == "5ba844cb"
    assert naming.uplink_name("eth1", 100) == "eth1.100"
    long_parent = naming.uplink_name("enp129s0f1np1", 4094)
    assert len(long_parent) <= 15 and long_parent.startswith("vl4094-")
    assert long_parent == naming.uplink_name("enp129s0f1np1", 4094)


def test_mappings():
    assert naming.parse_mappings("physnet1:eth1, physnet2:bond0.5") == {"physnet1": "eth1", "physnet2": "bond0.5"}
    assert naming.parse_mappings("") == {}
    for bad in ("physnet1", "physnet1:eth1,physnet2:eth1", "phys net:eth1", "p:eth/1"):
        with pytest.raises(ValueError):
            naming.parse_mappings(bad)


def _options(**values):
    options = {key: option.default for key, option in LinuxBridgeDriver.options.items()}
    options["physical_interface_mappings"] = {"physnet1": "eth1"}
    options.update(values)
    return options


def test_resolve():
    target = naming.resolve(_options(physical_network="physnet1", segmentation_id=7, mtu=1450))
    assert (target.bridge, target.uplink, target.interface, target.mtu, target.managed) == (
        naming.bridge_name("physnet1", 7), "eth1.7", "eth1", 1450, True)
    assert naming.resolve(_options(physical_network="physnet1", vlan=7)).bridge == target.bridge
    explicit = naming.resolve(_options(bridge="br0"))
    assert explicit.bridge == "br0" and not explicit.managed
    with pytest.raises(ValueError, match="disagree"):
        naming.resolve(_options(physical_network="physnet1", segmentation_id=7, vlan=8))
    with pytest.raises(ValueError, match="needs physical_network"):
        naming.resolve(_options(bridge="br0", segmentation_id=7))
    assert naming.parse_alias(target.alias("bridge")) == ("bridge", "physnet1", "7", "eth1.7")
    assert naming.parse_alias("vif-driver:managed-not") is None
    assert naming.parse_alias("set by the admin") is None


def test_rewrite_is_idempotent_and_keeps_other_children():
    element = domxml.parse_device(ENGINE_XML)
    rewrite(element, "vb7-12345678", tap_name(VNIC_ID), 1450)
    once = domxml.serialize_device(element)
    again = domxml.parse_device(once)
    rewrite(again, "vb7-12345678", tap_name(VNIC_ID), 1450)
    assert domxml.serialize_device(again) == once
    root = etree.fromstring(once.split("?>", 1)[1])
    assert root.get("type") == "bridge"
    assert [s.attrib for s in root.findall("source")] == [{"bridge": "vb7-12345678"}]
    assert [t.attrib for t in root.findall("target")] == [{"dev": "tap6a9f5e2b-71"}]
    assert root.find("mtu").get("size") == "1450"
    assert [c.tag for c in root] == ["address", "mac", "model", "source", "link", "filterref", "bandwidth",
                                     "boot", "target", "mtu"]


def test_rewrite_drops_a_virtualport_and_a_managed_target():
    element = etree.fromstring(
        '<interface type="ethernet"><source bridge="br-int"/><virtualport type="openvswitch"/>'
        '<target dev="old" managed="no"/><mtu size="9000"/></interface>')
    rewrite(element, "br0", "tapabc", None)
    assert element.find("virtualport") is None
    assert element.find("target").attrib == {"dev": "tapabc"}
    assert element.find("mtu").get("size") == "9000"  # no network MTU given: left as it was

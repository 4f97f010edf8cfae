"""One host: networks that share a host never share a broadcast domain."""

from net_helpers import SUBNET, isolated, network, reach


def test_two_local_networks_are_isolated(cluster, neutron, boot):
    """A host with no bridge_mappings at all: local networks on br-int, each
    with the tag the provider allocated for it."""
    host = cluster.add_host("h1", mappings=False)
    red, blue = network(neutron, "red-local"), network(neutron, "blue-local")
    vm1 = boot(cluster, host, red, "vm1", SUBNET.format(1))
    vm2 = boot(cluster, host, red, "vm2", SUBNET.format(2))
    vm3 = boot(cluster, host, blue, "vm3", SUBNET.format(3))

    tags = {vm.name: vm.port["binding:vif_details"]["local_tag"] for vm in (vm1, vm2, vm3)}
    assert tags["vm1"] == tags["vm2"] != tags["vm3"]
    for vm in (vm1, vm2, vm3):
        assert vm.attachment.bridge == "br-int"
        assert host.port_tag(vm.attachment.dev) == int(tags[vm.name])
        assert vm.port["binding:vif_details"]["network_type"] == "local"

    assert reach(vm1, vm2) and reach(vm2, vm1)
    assert isolated(vm3, vm1) and isolated(vm3, vm2)
    assert isolated(vm1, vm3)


def test_two_vlan_networks_on_one_physnet_are_isolated(cluster, neutron, boot):
    host = cluster.add_host("h1")
    green = network(neutron, "green-vlan", "vlan", physnet="physnet1", vlan=111)
    amber = network(neutron, "amber-vlan", "vlan", physnet="physnet1", vlan=112)
    vm1 = boot(cluster, host, green, "vm1", SUBNET.format(11))
    vm2 = boot(cluster, host, green, "vm2", SUBNET.format(12))
    vm3 = boot(cluster, host, amber, "vm3", SUBNET.format(13))

    details = vm1.port["binding:vif_details"]
    assert (details["network_type"], details["physical_network"], details["segmentation_id"]) == \
        ("vlan", "physnet1", "111")
    assert all(isinstance(v, str) for v in details.values())  # the engine's Map<String,String>
    assert [(vm.attachment.bridge, vm.attachment.tag) for vm in (vm1, vm2, vm3)] == \
        [("br-phys1", 111), ("br-phys1", 111), ("br-phys1", 112)]
    assert [host.port_tag(vm.attachment.dev) for vm in (vm1, vm2, vm3)] == [111, 111, 112]

    assert reach(vm1, vm2) and reach(vm2, vm1)
    assert isolated(vm3, vm1) and isolated(vm3, vm2)
    assert isolated(vm1, vm3)


def test_flat_network_is_untagged_on_the_physnet_bridge(cluster, neutron, boot):
    host = cluster.add_host("h1")
    flat = network(neutron, "plain-flat", "flat", physnet="physnet1")
    tagged = network(neutron, "tagged-vlan", "vlan", physnet="physnet1", vlan=113)
    vm1 = boot(cluster, host, flat, "vm1", SUBNET.format(21))
    vm2 = boot(cluster, host, flat, "vm2", SUBNET.format(22))
    vm3 = boot(cluster, host, tagged, "vm3", SUBNET.format(23))
    assert b"<vlan>" not in vm1.plugged.data
    assert (vm1.attachment.bridge, host.port_tag(vm1.attachment.dev)) == ("br-phys1", None)
    assert reach(vm1, vm2)
    assert isolated(vm3, vm1)

"""Networks through python-neutronclient's v2.0 client."""

import pytest
from neutronclient.common import exceptions as nexc


def test_create_show_update_delete(neutron):
    net = neutron.create_network({"network": {
        "name": "vlan100", "provider:network_type": "vlan",
        "provider:physical_network": "physnet1",
        "provider:segmentation_id": 100, "mtu": 9000,
        "port_security_enabled": False}})["network"]
    assert net["status"] == "ACTIVE" and net["subnets"] == []
    assert (net["provider:network_type"], net["provider:physical_network"],
            net["provider:segmentation_id"]) == ("vlan", "physnet1", 100)
    assert net["mtu"] == 9000 and net["port_security_enabled"] is False

    shown = neutron.show_network(net["id"])["network"]
    assert shown == net

    upd = neutron.update_network(net["id"], {"network": {
        "name": "renamed", "mtu": 1400, "admin_state_up": False}})["network"]
    assert (upd["name"], upd["mtu"], upd["admin_state_up"]) == \
        ("renamed", 1400, False)
    assert neutron.show_network(net["id"])["network"]["name"] == "renamed"

    neutron.delete_network(net["id"])
    with pytest.raises(nexc.NetworkNotFoundClient):
        neutron.show_network(net["id"])
    with pytest.raises(nexc.NotFound):
        neutron.delete_network(net["id"])


def test_default_mtu_follows_network_type(neutron, provider):
    local = neutron.create_network({"network": {}})["network"]
    vlan = neutron.create_network({"network": {
        "provider:network_type": "vlan", "provider:physical_network": "p",
        "provider:segmentation_id": 501}})["network"]
    if provider.backend == "ovn":  # the default is OVN's overlay
        assert local["provider:network_type"] == "geneve"
        assert (local["mtu"], vlan["mtu"]) == (1442, 1500)
    else:
        assert local["provider:network_type"] == "local"
        assert (local["mtu"], vlan["mtu"]) == (1500, 1500)


@pytest.mark.parametrize("attrs", [
    {"provider:network_type": "vlan", "provider:physical_network": "p"},
    {"provider:network_type": "vlan", "provider:physical_network": "p",
     "provider:segmentation_id": 4095},
    {"provider:network_type": "flat"},
    {"provider:network_type": "local", "provider:segmentation_id": 3},
    {"provider:network_type": "bogus"},
    {"mtu": 20},
    {"mtu": "big"},
    {"admin_state_up": "maybe"},
    {"vif_driver:bridge_name": "a-name-too-long-for-ovs"},
    {"flavor": "x"},
    {"status": "DOWN"},
])
def test_bad_network_input_is_400(neutron, attrs):
    with pytest.raises(nexc.BadRequest):
        neutron.create_network({"network": attrs})


def test_segment_in_use_is_409(neutron):
    body = {"network": {"provider:network_type": "vlan",
                        "provider:physical_network": "phys-dup",
                        "provider:segmentation_id": 7}}
    neutron.create_network(body)
    with pytest.raises(nexc.Conflict) as err:
        neutron.create_network(body)
    assert "VlanIdInUse" in repr(err.value) or err.value.status_code == 409


def test_provider_attributes_locked_while_ports_exist(neutron):
    net = neutron.create_network({"network": {
        "provider:network_type": "vlan", "provider:physical_network": "p",
        "provider:segmentation_id": 601}})["network"]
    neutron.update_network(net["id"], {"network": {
        "provider:segmentation_id": 602}})
    neutron.create_port({"port": {"network_id": net["id"]}})
    with pytest.raises(nexc.Conflict):
        neutron.update_network(net["id"], {"network": {
            "provider:segmentation_id": 603}})
    assert neutron.show_network(net["id"])["network"][
        "provider:segmentation_id"] == 602


def test_delete_network_with_ports_is_network_in_use(neutron, network):
    net, _ = network
    port = neutron.create_port({"port": {"network_id": net["id"]}})["port"]
    with pytest.raises(nexc.NetworkInUseClient):
        neutron.delete_network(net["id"])
    neutron.delete_port(port["id"])
    neutron.delete_network(net["id"])
    assert not neutron.list_subnets(network_id=net["id"])["subnets"]


def test_list_filters_and_fields(neutron):
    a = neutron.create_network({"network": {"name": "filt-a"}})["network"]
    b = neutron.create_network({"network": {"name": "filt-b",
                                            "shared": True}})["network"]
    neutron.create_network({"network": {"name": "filt-c"}})
    got = neutron.list_networks(name=["filt-a", "filt-b"])["networks"]
    assert sorted(n["id"] for n in got) == sorted([a["id"], b["id"]])
    shared = neutron.list_networks(name=["filt-a", "filt-b"],
                                   shared=True)["networks"]
    assert [n["id"] for n in shared] == [b["id"]]
    only = neutron.list_networks(id=a["id"], fields=["id", "name"])
    assert only["networks"] == [{"id": a["id"], "name": "filt-a"}]


def test_unknown_filter_is_400(neutron):
    with pytest.raises(nexc.BadRequest):
        neutron.list_networks(colour="blue")


def test_null_mtu_on_update_means_default(neutron):
    net = neutron.create_network({"network": {
        "provider:network_type": "vlan", "provider:physical_network": "p",
        "provider:segmentation_id": 77, "mtu": 1300}})["network"]
    upd = neutron.update_network(net["id"], {"network": {"mtu": None}})
    assert upd["network"]["mtu"] == 1500

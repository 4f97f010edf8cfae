"""Drivers' port lookups against the real provider (vif_driver.provider_client.lookup)."""

import itertools

import pytest

from vif_driver.api import HookContext, HostError
from vif_driver.core.config import parse
from vif_driver.core.dispatch import resolve_options
from vif_driver.provider_client import lookup
from vif_driver.provider_client.options import PROVIDER_OPTIONS


class Driver:
    options = dict(PROVIDER_OPTIONS)


def context(options_text, vnic_id, **props):
    config = parse("[driver:d]\n" + options_text)
    options = resolve_options(Driver, config, "d", props)
    return HookContext(hook_point="before_device_create", phase="before", properties=props,
                       options=options, timeout=3, vnic_id=vnic_id)


_VLANS = itertools.count(101)


@pytest.fixture
def port(neutron):
    vlan = next(_VLANS)  # the provider is shared by the module: one VLAN each
    net = neutron.create_network({"network": {
        "name": "lookup", "mtu": 1442, "provider:network_type": "vlan",
        "provider:physical_network": "physnet1", "provider:segmentation_id": vlan}})["network"]
    neutron.create_subnet({"subnet": {"network_id": net["id"], "cidr": f"10.77.{vlan - 100}.0/24",
                                      "ip_version": 4}})
    return neutron.create_port({"port": {"network_id": net["id"], "device_id": "vm-1",
                                         "binding:host_id": "host-1"}})["port"]


def test_settings_from_the_provider(provider, port):
    ctx = context(f"provider_url = {provider.url}\n", port["id"])
    settings = lookup.network_settings(ctx)
    assert settings == {"bridge": "br-int", "mtu": 1442, "physical_network": "physnet1",
                        "segmentation_id": settings["segmentation_id"], "network_type": "vlan"}
    assert 101 <= settings["segmentation_id"] < 200
    assert ctx.actions == [f"provider: GET {provider.url}/v2.0/ports/{port['id']} and its network"]


def test_with_credentials(secured, make_neutron, creds):
    neutron = make_neutron(secured, auth=True)
    net = neutron.create_network({"network": {"name": "auth-lookup", "mtu": 1400}})["network"]
    neutron.create_subnet({"subnet": {"network_id": net["id"], "cidr": "10.78.0.0/24", "ip_version": 4}})
    port = neutron.create_port({"port": {"network_id": net["id"]}})["port"]
    ctx = context(f"provider_url = {secured.url}\nprovider_auth_url = {secured.auth_url}\n"
                  f"provider_username = {creds[0]}\nprovider_password = {creds[1]}\n", port["id"])
    assert lookup.network_settings(ctx)["mtu"] == 1400
    bad = context(f"provider_url = {secured.url}\nprovider_username = {creds[0]}\n"
                  "provider_password = wrong\n", port["id"])
    with pytest.raises(HostError, match="username and password"):
        lookup.network_settings(bad)


def test_no_url_no_lookup():
    ctx = context("", "6a9f5e2b")
    assert lookup.network_settings(ctx) == {} and ctx.actions == []


def test_unknown_port_and_unreachable_provider(provider):
    with pytest.raises(HostError, match="port 0000-missing does not exist on the provider"):
        lookup.network_settings(context(f"provider_url = {provider.url}\n", "0000-missing"))
    with pytest.raises(HostError, match="cannot reach provider http://127.0.0.1:9"):
        lookup.network_settings(context("provider_url = http://127.0.0.1:9\n", "0000-missing"))


def test_url_option_is_validated():
    from vif_driver.api import InvalidInput
    with pytest.raises(InvalidInput, match="provider_url"):
        context("provider_url = file:///etc/passwd\n", "x")


# SQLite only: an OVN backend's port says controller=ovn, which puts the vNIC
# on br-int of an OVN chassis whatever its type (tests/ovn/test_cluster.py)
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_hooks_use_the_provider_and_fail_clearly_without_it(run_hook, config_file, provider, port):
    """Through the real entrypoint: the OVS plug takes the bridge and MTU from
    the provider; an unreachable provider stops the VM start (exit 2)."""
    from support import FIXTURES, external_props
    with open(f"{FIXTURES}/xml/engine-nic.xml", "rb") as f:
        engine = f.read()
    props = external_props("OPEN_VSWITCH", vnic_id=port["id"])
    good = config_file(f"[plugin_types]\nLINUX_BRIDGE =\n[driver:ovs]\nprovider_url = {provider.url}\n"
                       "bridge_mappings = physnet1:br-phys1\n", "good.conf")
    run = run_hook("before_device_create", engine, config=good, device_properties=props)
    assert run.rc == 0, run.stderr
    assert b'<source bridge="br-phys1"/>' in run.data and b'<mtu size="1442"/>' in run.data
    seg = port["binding:vif_details"]["segmentation_id"].encode()
    assert b'<vlan>' in run.data and b'<tag id="' + seg + b'"/>' in run.data
    bad = config_file("[plugin_types]\nLINUX_BRIDGE =\n[driver:ovs]\nprovider_url = http://127.0.0.1:9\n", "bad.conf")
    run = run_hook("before_device_create", engine, config=bad, device_properties=props)
    assert run.rc == 2 and run.data == engine
    assert run.stderr.count("\n") == 1 and "cannot reach provider http://127.0.0.1:9" in run.stderr


def test_linux_bridge_network_from_the_provider_and_cleanup_after_port_deletion(
        run_hook, config_file, neutron, provider, tmp_path):
    """The Linux bridge driver builds the provider's VLAN network from the
    port lookup, and still removes it on destroy once the engine has deleted
    the port (the lookup then fails; the bridge's marks say what to remove)."""
    from vif_driver.drivers.linux_bridge.naming import bridge_name
    from vif_driver.tools.sandbox.netns import Namespace, kernel_supports

    from support import FIXTURES, external_props, require_root, require_tool
    require_root()
    require_tool("ip")
    vlan = next(_VLANS)
    net = neutron.create_network({"network": {
        "name": "lb", "mtu": 1400, "provider:network_type": "vlan",
        "provider:physical_network": "physnet1", "provider:segmentation_id": vlan}})["network"]
    neutron.create_subnet({"subnet": {"network_id": net["id"], "cidr": f"10.77.{vlan - 100}.0/24",
                                      "ip_version": 4}})
    port = neutron.create_port({"port": {"network_id": net["id"]}})["port"]
    bridge, tap = bridge_name("physnet1", vlan), "tap" + port["id"][:11]
    with Namespace() as host:
        host.veth("eth1", "eth1p")
        config = config_file(
            "[plugin_types]\nOPEN_VSWITCH =\nOVIRT_PROVIDER_OVN =\n[driver:linux_bridge]\n"
            f"netns = {host.name}\nphysical_interface_mappings = physnet1:eth1\nlock_dir = {tmp_path}/locks\n"
            f"uplink_kind = {'vlan' if kernel_supports('vlan') else 'vxlan'}\nplug_timeout = 2\n"
            f"provider_url = {provider.url}\n", "lb.conf")
        props = external_props("LINUX_BRIDGE", vnic_id=port["id"])
        with open(f"{FIXTURES}/xml/engine-nic.xml") as f:
            plugged = run_hook("before_device_create", f.read(), config=config, device_properties=props)
        assert plugged.rc == 0, plugged.stderr
        assert f'<source bridge="{bridge}"/>' in plugged.text and '<mtu size="1400"/>' in plugged.text
        assert host.links()[bridge]["mtu"] == 1400
        host.tap(tap, master=bridge)  # libvirt's part
        assert run_hook("after_device_create", "", config=config, device_properties=props).rc == 0
        neutron.delete_port(port["id"])  # the engine deletes the port; the VM stops
        host.delete_link(tap)
        run = run_hook("after_device_destroy", plugged.text, config=config, device_properties=props)
        assert run.rc == 0, run.stderr
        assert bridge not in host.links() and f"eth1.{vlan}" not in host.links()


# local networks and their local tags are the SQLite backend's; on OVN every
# network is an OVN switch (tests/provider/test_ovn.py)
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_post_plug_waits_on_the_providers_bridge(run_hook, config_file, neutron, provider):
    """VDSM's after_device_create XML is often empty: the check must look at
    the bridge the plug took from the provider, not the option's default."""
    from vif_driver.tools.sandbox.ovs import OvsSandbox

    from support import require_root, require_tool
    require_root()
    require_tool("ovsdb-server", "ovs-vswitchd", "ip")
    net = neutron.create_network({"network": {"name": "br-prov-net", "vif_driver:bridge_name": "br-prov"}})
    net = net["network"]
    neutron.create_subnet({"subnet": {"network_id": net["id"], "cidr": "10.79.0.0/24", "ip_version": 4}})
    port = neutron.create_port({"port": {"network_id": net["id"]}})["port"]
    with OvsSandbox() as box:  # started on entry
        box.add_bridge("br-prov")
        config = box.write_config(config_file("", "ovs.conf"), plug_timeout=2)
        with open(config, "a") as f:
            f.write(f"provider_url = {provider.url}\n")
        from support import external_props
        props = external_props("OPEN_VSWITCH", vnic_id=port["id"])
        tap = "tap" + port["id"][:11]
        box.plug_tap(tap, iface_id=port["id"], mac=port["mac_address"], vm_id="vm", bridge="br-prov")
        box.vsctl("set", "Port", tap, "tag=" + port["binding:vif_details"]["local_tag"])  # libvirt's <vlan>
        run = run_hook("after_device_create", "", config=config, device_properties=props)
        assert run.rc == 0, run.stderr

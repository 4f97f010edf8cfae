"""Fixtures for network types on Open vSwitch: the reference provider
(SQLite) played through python-neutronclient as the engine uses it, and
simulated hosts (vif_driver.tools.sandbox.hosts): each an Open vSwitch of its own
in a namespace, physnet bridges joined by an underlay trunk, guests as
namespaces attached the way libvirt attaches them, from the XML the
installed hook wrote."""

import logging

import pytest

from support import require_root, require_tool

logging.getLogger("neutronclient").setLevel(logging.ERROR)


@pytest.fixture(scope="module")
def provider(tmp_path_factory):
    from vif_driver.tools.sandbox.provider import ProviderProcess
    with ProviderProcess(str(tmp_path_factory.mktemp("netprov"))) as p:
        yield p


@pytest.fixture(scope="module")
def neutron(provider):
    from neutronclient.v2_0 import client
    return client.Client(endpoint_url=provider.url, auth_strategy="noauth", timeout=10)


@pytest.fixture
def cluster(tmp_path):
    """Simulated hosts joined on physnet1 (add_host / add_guest); all gone at the end."""
    require_root()
    require_tool("ovsdb-tool", "ovsdb-server", "ovs-vswitchd", "ovs-vsctl", "ovs-appctl", "ip", "ping")
    from vif_driver.tools.sandbox.hosts import Cluster
    with Cluster(["physnet1"], directory=str(tmp_path / "hosts")) as c:
        yield c


@pytest.fixture
def boot(run_hook, neutron, provider, tmp_path):
    """Start a VM's vNIC on a host as engine, VDSM and libvirt do: POST the
    port, before_device_create through the installed hook, libvirt's part
    from the XML it wrote, after_device_create (post-plug). Returns a VM."""
    from net_helpers import Vm
    configs = {}

    def start(cluster, host, network, name, address, *, expect_rc=0):
        if host.name not in configs:
            configs[host.name] = host.write_config(str(tmp_path / f"{host.name}.conf"), provider_url=provider.url,
                                                   plug_timeout=5)
        vm = Vm.create(neutron, network, name, host, configs[host.name])
        vm.plugged = run_hook("before_device_create", vm.engine_xml, config=vm.config,
                              device_properties=vm.props, vm_id=vm.vm_id)
        if expect_rc != 0:
            return vm
        assert vm.plugged.rc == 0, vm.plugged.stderr
        vm.guest = cluster.add_guest(name)
        vm.attachment = host.attach(vm.guest, vm.plugged.data, address, vm.vm_id)
        confirmed = run_hook("after_device_create", "", config=vm.config, device_properties=vm.props,
                             vm_id=vm.vm_id)
        assert confirmed.rc == 0, confirmed.stderr
        return vm
    return start

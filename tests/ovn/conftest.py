"""Fixtures of the OVN tests: a simulated cluster (vif_driver.tools.sandbox.ovn:
NB/SB ovsdb-servers and ovn-northd on the underlay, three chassis each with
its own Open vSwitch and ovn-controller, Geneve between them) shared by a
module, the reference provider on its OVN backend (`serve --backend ovn
--ovn-nb` on the cluster's northbound database) played through
python-neutronclient as the engine uses it, and VMs booted through the
installed hooks."""

import logging

import pytest

logging.getLogger("neutronclient").setLevel(logging.ERROR)


@pytest.fixture(scope="module")
def ovn(tmp_path_factory):
    from ovn_helpers import running_cluster
    with running_cluster(str(tmp_path_factory.mktemp("ovn")), 3) as cluster:
        yield cluster


@pytest.fixture(scope="module")
def provider(ovn, tmp_path_factory):
    from vif_driver.tools.sandbox.provider import ProviderProcess
    with ProviderProcess(str(tmp_path_factory.mktemp("ovnprov")), ovn_nb=ovn.nb_remote) as p:
        yield p


@pytest.fixture(scope="module")
def neutron(provider):
    from neutronclient.v2_0 import client
    return client.Client(endpoint_url=provider.url, auth_strategy="noauth", timeout=10)


@pytest.fixture
def config(ovn, provider, tmp_path):
    """config(host, plug_timeout=5) -> the host's vif-driver config path."""
    made = {}

    def write(host, plug_timeout=5):
        key = (host.name, plug_timeout)
        if key not in made:
            made[key] = host.write_config(str(tmp_path / f"{host.name}-{plug_timeout}.conf"),
                                          provider_url=provider.url, plug_timeout=plug_timeout)
        return made[key]
    return write


@pytest.fixture
def boot(run_hook, ovn, neutron, config):
    """boot(host, network, name) -> a Vm whose port the engine created
    (binding:host_id = the host), whose vNIC before_device_create plugged,
    attached as libvirt would and confirmed by after_device_create;
    confirm=False stops before the latter; bound_to: another host id."""
    from ovn_helpers import Vm
    vms = []

    def start(host, network, name, *, confirm=True, plug_timeout=5, props=None, bound_to=None, dhcp=False):
        vm = Vm.create(neutron, network, name, host, config(host, plug_timeout), bound_to=bound_to)
        vms.append(vm)
        vm.props.update(props or {})
        vm.plugged = run_hook("before_device_create", vm.engine_xml, config=vm.config,
                              device_properties=vm.props, vm_id=vm.vm_id)
        assert vm.plugged.rc == 0, vm.plugged.stderr
        vm.guest = ovn.add_guest(name)
        vm.attachment = host.attach(vm.guest, vm.plugged.data, "192.0.2.1/32" if dhcp else vm.cidr, vm.vm_id)
        if dhcp:
            vm.guest.ns.ip("addr", "flush", "dev", "eth0")
            vm.guest.address = None
        if confirm:
            vm.confirmed = run_hook("after_device_create", "", config=vm.config, device_properties=vm.props,
                                    vm_id=vm.vm_id)
            assert vm.confirmed.rc == 0, vm.confirmed.stderr
        return vm
    yield start
    for vm in vms:  # the module's cluster stays: remove this test's ports
        vm.remove(ovn, neutron)

"""Fixtures of the OVN tests: a simulated cluster (vif_driver.tools.sandbox.ovn:
NB/SB ovsdb-servers and ovn-northd on the underlay, three chassis each with
its own Open vSwitch and ovn-controller, Geneve between them) shared by a
module, and VMs booted through the installed hooks on it. The northbound
rows are written with ovn-nbctl the way the provider's OVN backend writes
them (a Logical_Switch per network, a port named by the port id with
addresses and port_security "MAC IP", requested-chassis)."""

import pytest

from support import require_root, require_tool


@pytest.fixture(scope="module")
def ovn(tmp_path_factory):
    require_root()
    from vif_driver.tools.sandbox.ovn import TOOLS, OvnCluster
    require_tool(*TOOLS)
    with OvnCluster(directory=str(tmp_path_factory.mktemp("ovn"))) as cluster:
        cluster.add_hosts(3)
        cluster.wait_chassis()
        yield cluster


@pytest.fixture
def boot(run_hook, ovn, tmp_path):
    """boot(host, network, name, index) -> a Vm whose vNIC was plugged by
    before_device_create, attached as libvirt would and confirmed by
    after_device_create; boot(..., confirm=False) stops before the latter."""
    from ovn_helpers import Vm
    configs = {}
    vms = []

    def start(host, network, name, index, *, confirm=True, plug_timeout=5, lsp=True, props=None):
        if (host.name, plug_timeout) not in configs:
            configs[host.name, plug_timeout] = host.write_config(
                str(tmp_path / f"{host.name}-{plug_timeout}.conf"), plug_timeout=plug_timeout)
        vm = Vm(ovn, host, network, name, index, configs[host.name, plug_timeout])
        vms.append(vm)
        vm.props.update(props or {})
        if lsp:
            vm.create_lsp()
        vm.plugged = run_hook("before_device_create", vm.engine_xml, config=vm.config,
                              device_properties=vm.props, vm_id=vm.vm_id)
        assert vm.plugged.rc == 0, vm.plugged.stderr
        vm.guest = ovn.add_guest(name)
        vm.attachment = host.attach(vm.guest, vm.plugged.data, vm.cidr, vm.vm_id)
        if confirm:
            vm.confirmed = run_hook("after_device_create", "", config=vm.config, device_properties=vm.props,
                                    vm_id=vm.vm_id)
            assert vm.confirmed.rc == 0, vm.confirmed.stderr
        return vm
    yield start
    for vm in vms:  # the module's cluster stays: remove this test's ports
        vm.remove()

"""Two hosts joined by a trunk on physnet1: vlan networks span them, each
VLAN a broadcast domain of its own; local networks stay on their host."""

import uuid

from vif_driver.tools.sandbox.hosts import lost_pings_during

from net_helpers import SUBNET, isolated, network, reach


def test_vlan_network_spans_hosts_and_vlans_stay_apart(cluster, neutron, boot):
    h1, h2 = cluster.add_host("h1"), cluster.add_host("h2")
    teal = network(neutron, "teal-vlan", "vlan", physnet="physnet1", vlan=211)
    plum = network(neutron, "plum-vlan", "vlan", physnet="physnet1", vlan=212)
    vm1 = boot(cluster, h1, teal, "vm1", SUBNET.format(31))
    vm2 = boot(cluster, h2, teal, "vm2", SUBNET.format(32))
    vm3 = boot(cluster, h2, plum, "vm3", SUBNET.format(33))
    vm4 = boot(cluster, h1, plum, "vm4", SUBNET.format(34))

    assert reach(vm1, vm2) and reach(vm2, vm1)  # through the trunk
    assert vm1.guest.tcp_echo(vm2.guest)  # TCP too: checksums survive the userspace datapath
    assert reach(vm3, vm4)  # the other VLAN spans the hosts as well
    assert isolated(vm3, vm1) and isolated(vm3, vm2) and isolated(vm1, vm4)


def test_local_network_does_not_cross_hosts(cluster, neutron, boot):
    h1, h2 = cluster.add_host("h1"), cluster.add_host("h2")
    here = network(neutron, "here-local")
    vm1 = boot(cluster, h1, here, "vm1", SUBNET.format(41))
    vm2 = boot(cluster, h2, here, "vm2", SUBNET.format(42))
    vm3 = boot(cluster, h1, here, "vm3", SUBNET.format(43))
    assert vm1.attachment.tag == vm2.attachment.tag  # the same network, the same tag ...
    assert reach(vm1, vm3)
    assert isolated(vm1, vm2) and isolated(vm2, vm1)  # ... but only within a host


def test_migration_on_a_vlan_network(cluster, neutron, boot, run_hook, capsys):
    """vm2 moves from h1 to h2 as libvirt moves it: the destination hooks
    run, the guest's link leaves h1's bridge and joins h2's, ping resumes."""
    h1, h2 = cluster.add_host("h1"), cluster.add_host("h2")
    net = network(neutron, "move-vlan", "vlan", physnet="physnet1", vlan=221)
    vm1 = boot(cluster, h1, net, "vm1", SUBNET.format(51))
    vm2 = boot(cluster, h1, net, "vm2", SUBNET.format(52))
    assert reach(vm1, vm2)
    dest_config = h2.write_config(vm1.config.replace("h1.conf", "h2-dest.conf"),
                                  provider_url=_provider_url(vm1.config), plug_timeout=5)
    before = run_hook("before_device_migrate_destination", vm2.plugged.data, config=dest_config,
                      device_properties=vm2.props, vm_id=vm2.vm_id)
    assert before.rc == 0, before.stderr

    def migrate():
        h1.detach(vm2.attachment.dev)  # the source domain goes, with its tap
        h2.attach(vm2.guest, vm2.plugged.data, vm2.guest.address, vm2.vm_id)

    sent, lost = lost_pings_during(vm1.guest, vm2.ip, migrate, interval=0.1, before=1.0, after=3.0)
    after = run_hook("after_device_migrate_destination", vm2.plugged.data, config=dest_config,
                     device_properties=vm2.props, vm_id=vm2.vm_id)
    assert after.rc == 0, after.stderr
    with capsys.disabled():
        print(f"\nmigration h1 -> h2 on vlan 221: {lost} of {sent} pings lost at a 100 ms interval")
    assert h2.port_tag(vm2.attachment.dev) == 221 and vm2.attachment.dev not in h1.box.ports("br-phys1")
    assert lost < sent / 2 and reach(vm1, vm2)


def _provider_url(config_path):
    with open(config_path) as f:
        return next(line.split("=", 1)[1].strip() for line in f if line.startswith("provider_url"))


def test_unmapped_physnet_at_plug_exit_2_nothing_changed(cluster, neutron, boot, run_hook):
    host = cluster.add_host("h1")
    net = network(neutron, "far-vlan", "vlan", physnet="physnet9", vlan=231)
    before = sorted(host.box.vsctl("show", wait=False).splitlines())
    vm = boot(cluster, host, net, "vm1", SUBNET.format(61), expect_rc=2)
    run = vm.plugged
    assert run.rc == 2 and run.data == vm.engine_xml.encode()
    assert run.stderr.count("\n") == 1 and "physnet9" in run.stderr and "bridge_mappings" in run.stderr
    assert len(run.stderr) <= 240 + 80  # one line (the framework's prefix included)
    assert sorted(host.box.vsctl("show", wait=False).splitlines()) == before
    assert str(uuid.UUID(vm.port["id"])) == vm.port["id"]

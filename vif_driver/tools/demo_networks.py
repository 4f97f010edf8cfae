"""`vif-driver demo --networks`: network types made real on two hosts.

Two simulated hosts (vif_driver.tools.sandbox.hosts: each its own Open vSwitch in
a namespace, physnet1 bridges joined by an underlay trunk), the reference
provider with two vlan networks on physnet1, and three "VMs": vm1 (blue)
on host1, vm2 (blue) on host2, vm3 (red) on host1. The demo plays the
engine (REST calls), VDSM (the installed hooks) and libvirt (the port from
the XML the hook wrote), then prints who reaches whom: blue spans the
hosts, red shares host1 and physnet1 with blue yet reaches nobody.
"""

from __future__ import annotations

import os
import sys
import uuid

import click

NETWORKS = (("blue", 101), ("red", 102))
VMS = (("vm1", "blue", "host1"), ("vm2", "blue", "host2"), ("vm3", "red", "host1"))
SUBNET = "10.201.0.{}/24"  # one IP subnet for all: only the networks keep them apart


def run_networks_demo(workdir: str, echo=click.echo, signals=None) -> dict[tuple[str, str], bool]:
    """The flow; returns the ping matrix (for the tests). Raises DemoError,
    or Interrupted at a step's start after a signal (vif_driver.tools.demo.Signals)."""
    from vif_driver.provider_client.http import call
    from vif_driver.tools import install
    from vif_driver.tools.demo import Demo
    from vif_driver.tools.sandbox.hosts import Cluster, engine_interface
    from vif_driver.tools.sandbox.provider import ProviderProcess

    demo = Demo(workdir, echo, signals)
    with demo.stack:
        demo.step("Provider: start the reference provider (SQLite backend)")
        provider = demo.stack.enter_context(ProviderProcess(os.path.join(workdir, "provider")))
        api = provider.url + "/v2.0"
        demo.detail(f"serving on {provider.url}")

        demo.step("Hosts: two simulated hosts, each its own Open vSwitch; br-phys1 uplinked to one trunk")
        cluster = demo.stack.enter_context(Cluster(["physnet1"], directory=os.path.join(workdir, "hosts")))
        hooks = os.path.join(workdir, "hooks")
        install.install_hooks(hooks, sys.executable, hooks_dir="")
        hosts, configs = {}, {}
        for name in ("host1", "host2"):
            host = hosts[name] = cluster.add_host(name)
            configs[name] = host.write_config(os.path.join(workdir, f"{name}.conf"), provider_url=provider.url,
                                              timeout=10, plug_timeout=10)
            demo.detail(f"{name}: namespace {host.box.netns}, bridge_mappings physnet1:br-phys1")

        demo.step("Engine: two vlan networks on physnet1")
        nets = {}
        for name, vlan in NETWORKS:
            nets[name] = call("POST", api + "/networks", {"network": {
                "name": f"demo-{name}", "provider:network_type": "vlan",
                "provider:physical_network": "physnet1", "provider:segmentation_id": vlan}})["network"]
            demo.detail(f"{name}: vlan {vlan}, network {nets[name]['id']}")

        guests = []
        for i, (vm, net, host_name) in enumerate(VMS, start=1):
            host, vm_id = hosts[host_name], str(uuid.uuid4())
            demo.step(f"Start {vm} on {host_name}, network {net}: engine POSTs the port, VDSM runs the hooks")
            port = call("POST", api + "/ports", {"port": {"network_id": nets[net]["id"], "device_id": vm_id,
                                                          "device_owner": "oVirt", "name": f"{vm}-nic1",
                                                          "binding:host_id": host.system_id}})["port"]
            props = {"provider_type": "EXTERNAL_NETWORK", "plugin_type": "OVIRT_PROVIDER_OVN", "vnic_id": port["id"]}
            run = demo.run_hook(hooks, "before_device_create", engine_interface(port["mac_address"]),
                                props, vm_id, configs[host_name])
            guest = cluster.add_guest(vm)
            attached = host.attach(guest, run.data, SUBNET.format(i), vm_id)
            demo.detail(f"libvirt: {attached.dev} on {attached.bridge} tag {attached.tag}, {guest.address}")
            demo.run_hook(hooks, "after_device_create", "", props, vm_id, configs[host_name])
            guests.append(guest)

        demo.step("Traffic: who reaches whom (ping)")
        matrix = demo.reachability(guests, lambda a, b: {a, b} == {"vm1", "vm2"})
        demo.step("Clean up: stop the switches and the provider, remove the namespaces")
    return matrix

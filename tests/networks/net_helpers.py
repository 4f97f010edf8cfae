"""Helpers of the network-type tests (a module of its own: conftest.py
cannot be imported by test modules)."""

from __future__ import annotations

import uuid

from vif_driver.tools.sandbox.hosts import engine_interface

SUBNET = "10.93.0.{}/24"  # every VM in one IP subnet: only L2 keeps networks apart


def network(neutron, name: str, ntype: str = "local", *, physnet: str | None = None,
            vlan: int | None = None) -> dict:
    body = {"name": name, "provider:network_type": ntype}
    if physnet:
        body["provider:physical_network"] = physnet
    if vlan is not None:
        body["provider:segmentation_id"] = vlan
    return neutron.create_network({"network": body})["network"]


class Vm:
    """One VM with one external vNIC: its port, hook runs, guest namespace."""

    def __init__(self, name, port, host, config):
        self.name, self.port, self.host, self.config = name, port, host, config
        self.vm_id = str(uuid.uuid4())
        self.props = {"provider_type": "EXTERNAL_NETWORK", "plugin_type": "OVIRT_PROVIDER_OVN",
                      "vnic_id": port["id"]}
        self.engine_xml = engine_interface(port["mac_address"])
        self.plugged = self.guest = self.attachment = None

    @classmethod
    def create(cls, neutron, net, name, host, config) -> Vm:
        port = neutron.create_port({"port": {"network_id": net["id"], "name": f"{name}-nic1",
                                             "device_owner": "oVirt", "binding:host_id": host.system_id}})
        return cls(name, port["port"], host, config)

    @property
    def ip(self) -> str:
        return self.guest.ip


def reach(a: Vm, b: Vm) -> bool:
    return a.guest.ping(b.ip)


def isolated(a: Vm, b: Vm) -> bool:
    """Neither ICMP nor ARP gets from a to b."""
    return not a.guest.ping(b.ip, count=1) and not a.guest.arp_resolved(b.ip)

"""Helpers of the network-type tests (a module of its own: conftest.py
cannot be imported by test modules)."""

from __future__ import annotations

from support import EngineVm

SUBNET = "10.93.0.{}/24"  # every VM in one IP subnet: only L2 keeps networks apart


def network(neutron, name: str, ntype: str = "local", *, physnet: str | None = None,
            vlan: int | None = None) -> dict:
    body = {"name": name, "provider:network_type": ntype}
    if physnet:
        body["provider:physical_network"] = physnet
    if vlan is not None:
        body["provider:segmentation_id"] = vlan
    return neutron.create_network({"network": body})["network"]


class Vm(EngineVm):
    """One VM with one external vNIC: its port, hook runs, guest namespace."""

    @property
    def ip(self) -> str:
        return self.guest.ip


def reach(a: Vm, b: Vm) -> bool:
    return a.guest.ping(b.ip)


def isolated(a: Vm, b: Vm) -> bool:
    """Neither ICMP nor ARP gets from a to b."""
    return not a.guest.ping(b.ip, count=1) and not a.guest.arp_resolved(b.ip)

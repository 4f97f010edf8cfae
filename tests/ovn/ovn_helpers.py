"""Helpers of the OVN tests (conftest.py cannot be imported by test modules)."""

from __future__ import annotations

import contextlib
import itertools
import time

from support import EngineVm

CIDR, GATEWAY = "10.77.0.0/24", "10.77.0.1"  # every network in one IP subnet: only OVN keeps them apart


_POOLS = itertools.count(1)


@contextlib.contextmanager
def running_cluster(directory: str, hosts: int):
    """An OvnCluster of ``hosts`` chassis, all registered (needs root and OVN's tools)."""
    from support import require_root, require_tool
    require_root()
    from vif_driver.tools.sandbox.ovn import TOOLS, OvnCluster
    require_tool(*TOOLS)
    with OvnCluster(directory=directory) as cluster:
        cluster.add_hosts(hosts)
        cluster.wait_chassis()
        yield cluster


def network(neutron, name: str, **provider) -> dict:
    """A network (geneve: the OVN backend's default; ``provider``: other
    provider:* attributes) with a subnet, as the engine creates them; the
    network dict gets "subnet". Every network has the same CIDR, each its
    own allocation pool: addresses never clash."""
    first = 10 * next(_POOLS)
    net = neutron.create_network({"network": {"name": name, **provider}})["network"]
    net["subnet"] = neutron.create_subnet({"subnet": {
        "network_id": net["id"], "cidr": CIDR, "ip_version": 4, "gateway_ip": GATEWAY, "name": f"{name}-sub",
        "allocation_pools": [{"start": f"10.77.0.{first}", "end": f"10.77.0.{first + 9}"}]}})["subnet"]
    return net


class Vm(EngineVm):
    """One VM with one vNIC on an OVN network: its port, hook runs, guest."""

    def __init__(self, name, port, host, config):
        super().__init__(name, port, host, config)
        self.confirmed = None

    @property
    def ip(self) -> str:
        return self.port["fixed_ips"][0]["ip_address"]

    @property
    def mac(self) -> str:
        return self.port["mac_address"]

    @property
    def cidr(self) -> str:
        return self.ip + "/24"

    @property
    def dev(self) -> str:
        return self.attachment.dev

    def installed(self, host=None) -> bool:
        iface = (host or self.host).box.interface(self.dev)
        return bool(iface) and iface["external_ids"].get("ovn-installed") == "true"

    def remove(self, ovn, neutron) -> None:
        if self.attachment is not None:
            for host in ovn.hosts.values():
                host.detach(self.dev)
        try:
            neutron.delete_port(self.port["id"])
        except Exception:  # noqa: BLE001 - already deleted by the test
            pass


def lsp_options(ovn, port_id: str) -> dict:
    out = ovn.nbctl("--bare", "--columns=options", "list", "Logical_Switch_Port", port_id).split()
    return dict(item.split("=", 1) for item in out)


def wait_for(check, timeout: float = 10.0, step: float = 0.05) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if check():
            return True
        time.sleep(step)
    return check()

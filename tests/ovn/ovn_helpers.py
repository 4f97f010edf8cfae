"""Helpers of the OVN tests (conftest.py cannot be imported by test modules)."""

from __future__ import annotations

import time
import uuid

from vif_driver.tools.sandbox.hosts import engine_interface

SUBNET = "10.77.0.{}"  # every network in one IP subnet: only OVN keeps them apart


def network(ovn, name: str) -> str:
    """A Logical_Switch for a network (what the provider's OVN backend
    makes of POST /networks); returns its name."""
    ovn.nbctl("--may-exist", "ls-add", name)
    return name


def dhcp_options(ovn, cidr: str, router: str, mtu: int = 1442) -> str:
    """A DHCP_Options row for a subnet; returns its uuid."""
    net = cidr.split("/")[0]
    return ovn.nbctl("create", "DHCP_Options", f"cidr={cidr}",
                     f'options:server_id="{router}"', 'options:server_mac="02:00:00:00:00:fe"',
                     'options:lease_time="3600"', f'options:router="{router}"', f'options:mtu="{mtu}"',
                     f'external_ids:vif_driver_network="{net}"').strip()


class Vm:
    """One VM with one vNIC on an OVN network: its LSP, hook runs, guest."""

    def __init__(self, ovn, host, network: str, name: str, index: int, config: str):
        self.ovn, self.host, self.network, self.name, self.config = ovn, host, network, name, config
        self.port_id = str(uuid.uuid4())
        self.vm_id = str(uuid.uuid4())
        self.mac = f"02:77:00:00:{index // 256:02x}:{index % 256:02x}"
        self.ip = SUBNET.format(index)
        self.cidr = self.ip + "/24"
        self.props = {"provider_type": "EXTERNAL_NETWORK", "plugin_type": "OVIRT_PROVIDER_OVN",
                      "vnic_id": self.port_id}
        self.engine_xml = engine_interface(self.mac)
        self.plugged = self.confirmed = self.guest = self.attachment = None

    def create_lsp(self, dhcp: str | None = None) -> None:
        pair = f"{self.mac} {self.ip}"
        args = ["lsp-add", self.network, self.port_id, "--", "lsp-set-addresses", self.port_id, pair,
                "--", "lsp-set-port-security", self.port_id, pair,
                "--", "lsp-set-options", self.port_id, f"requested-chassis={self.host.system_id}"]
        if dhcp:
            args += ["--", "lsp-set-dhcpv4-options", self.port_id, dhcp]
        self.ovn.nbctl(*args)

    @property
    def dev(self) -> str:
        return self.attachment.dev

    def installed(self, host=None) -> bool:
        iface = (host or self.host).box.interface(self.dev)
        return bool(iface) and iface["external_ids"].get("ovn-installed") == "true"

    def remove(self) -> None:
        if self.attachment is not None:
            for host in self.ovn.hosts.values():
                host.detach(self.dev)
        self.ovn.nbctl("--if-exists", "lsp-del", self.port_id)


def wait_for(check, timeout: float = 10.0, step: float = 0.05) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if check():
            return True
        time.sleep(step)
    return check()

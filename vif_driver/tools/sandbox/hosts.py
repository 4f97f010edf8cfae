"""Simulated hosts for multi-host network tests and `vif-driver demo`.

Each host is an OvsSandbox (its own ovsdb-server and ovs-vswitchd with the
userspace netdev datapath, in a namespace of its own) with br-int and one
OVS bridge per physical network. The physnet bridges of all hosts are
joined through an "underlay" namespace: one plain Linux bridge per physnet
(no vlan_filtering, so it forwards 802.1Q frames as they are) and a veth
pair per host, standing in for the trunk between the hosts' uplinks.

Guests are namespaces whose eth0 is the far end of a veth; the near end is
the vNIC's "tap". ``Host.attach`` does libvirt's part from the device XML a
plug hook wrote: the port on <source bridge>, tagged as <vlan><tag> says,
with the external_ids libvirt sets (iface-id from <virtualport>), MTU and
MAC as the XML says.

    with Cluster(["physnet1"]) as cluster:
        h1, h2 = cluster.add_host("h1"), cluster.add_host("h2")
        g = cluster.add_guest("vm1")
        h1.attach(g, plugged_xml, "10.90.0.1/24", vm_id)

Everything is removed on close; names carry a per-run id, so parallel runs
never clash. Needs root.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from contextlib import ExitStack
from typing import NamedTuple

from vif_driver.tools.sandbox.netns import Namespace, _ip, unique_name
from vif_driver.tools.sandbox.ovs import OvsSandbox

log = logging.getLogger(__name__)


class Attachment(NamedTuple):
    """What libvirt would take from the plugged XML."""
    dev: str
    bridge: str
    tag: int | None
    iface_id: str
    mac: str
    mtu: int | None


_ENGINE_XML = """<?xml version='1.0' encoding='utf-8'?>
<interface type="bridge">
    <mac address="{mac}"/>
    <model type="virtio"/>
    <source bridge=";vdsmdummy;"/>
    <link state="up"/>
</interface>
"""


def engine_interface(mac: str) -> str:
    """The device XML the engine sends for an external vNIC at VM start
    (VDSM's placeholder bridge), which the plug hook rewrites."""
    return _ENGINE_XML.format(mac=mac)


def read_interface(xml: str | bytes) -> Attachment:
    """The parts of a plugged <interface> that libvirt applies to OVS."""
    from lxml import etree
    root = etree.fromstring(xml.encode() if isinstance(xml, str) else xml)

    def attribute(path: str, name: str, default: str | None = None) -> str | None:
        element = root.find(path)
        value = element.get(name) if element is not None else None
        if value is None and default is None:
            raise ValueError(f"plugged XML has no <{path}> with {name}=")
        return value if value is not None else default

    tag = attribute("vlan/tag", "id", "")
    mtu = attribute("mtu", "size", "")
    return Attachment(dev=attribute("target", "dev") or "", bridge=attribute("source", "bridge") or "",
                      tag=int(tag) if tag else None,
                      iface_id=attribute("virtualport/parameters", "interfaceid") or "",
                      mac=attribute("mac", "address", "") or "",
                      mtu=int(mtu) if mtu else None)


# ETHTOOL_STXCSUM through SIOCETHTOOL, run inside the namespace: what
# `ethtool -K DEV tx off` does, without needing the ethtool package.
_TX_OFF = ("import ctypes, fcntl, socket, struct, sys\n"
           "value = ctypes.create_string_buffer(struct.pack('II', 0x17, 0))\n"
           "request = struct.pack('16sP16x', sys.argv[1].encode(), ctypes.addressof(value))\n"
           "with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:\n"
           "    fcntl.ioctl(s, 0x8946, request)\n")


def tx_checksum_off(ns: Namespace, dev: str) -> None:
    """Kernel veths hand TCP/UDP to OVS's AF_PACKET ports with unfinished
    checksums (CHECKSUM_PARTIAL) and the receiver drops them; ICMP is
    unaffected, so a ping-only check hides it. TX checksumming off on every
    veth end the kernel transmits into towards OVS."""
    ns.exec([sys.executable, "-c", _TX_OFF, dev])


class Guest:
    """A "VM": a namespace whose eth0 is one vNIC."""

    def __init__(self, name: str, ns: Namespace):
        self.name, self.ns = name, ns
        self.address: str | None = None  # cidr on eth0

    @property
    def ip(self) -> str:
        return (self.address or "").split("/")[0]

    def ping(self, ip: str, *, count: int = 2, wait: float = 1.0) -> bool:
        """Whether ``ip`` answers; the neighbour entry is flushed first, so a
        reply needs ARP to work now, not a cached answer."""
        self.ns.ip("neigh", "flush", "dev", "eth0", check=False)
        proc = self.ns.exec(["ping", "-n", "-q", "-c", str(count), "-i", "0.2", "-W", str(wait), ip],
                            timeout=count * (wait + 0.5) + 5, check=False)
        return proc.returncode == 0

    def tcp_echo(self, peer: Guest, port: int = 7777, timeout: float = 5.0) -> bool:
        """Whether a TCP connection from this guest to ``peer`` carries a
        line both ways (checksums must be right: ping alone would not tell)."""
        server = ("import socket, sys\n"
                  "s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
                  f"s.bind(('0.0.0.0', {port})); s.listen(1); s.settimeout({timeout})\n"
                  "c, _ = s.accept(); c.settimeout(5); c.sendall(c.recv(64))\n")
        client = ("import socket, sys\n"
                  f"c = socket.create_connection(('{peer.ip}', {port}), {timeout}); c.settimeout({timeout})\n"
                  "c.sendall(b'vif-driver\\n'); sys.exit(0 if c.recv(64) == b'vif-driver\\n' else 1)\n")
        argv = [_ip(), "netns", "exec", peer.ns.name, sys.executable, "-c", server]
        listener = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
        try:
            import time
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:  # until the listener is up
                out = peer.ns.exec(["ss", "-Hltn", f"sport = :{port}"], check=False).stdout
                if out.strip():
                    break
                time.sleep(0.05)
            return self.ns.exec([sys.executable, "-c", client], timeout=timeout + 5, check=False).returncode == 0
        finally:
            if listener.poll() is None:
                listener.kill()
            listener.wait(5)

    def arp_resolved(self, ip: str) -> bool:
        """Whether eth0 holds a link-layer address for ``ip`` (after a ping)."""
        import json
        out = self.ns.ip("-j", "neigh", "show", "to", ip, "dev", "eth0", check=False).stdout
        return any("lladdr" in entry for entry in json.loads(out or b"[]"))


class Host:
    """One simulated hypervisor: an Open vSwitch with br-int and the physnet
    bridges (bridge_mappings), each physnet bridge's uplink on the underlay."""

    def __init__(self, name: str, box: OvsSandbox, mappings: dict[str, str]):
        self.name, self.box, self.mappings = name, box, mappings
        self.ns = Namespace(box.netns)

    @property
    def system_id(self) -> str:
        return self.box.system_id

    def write_config(self, path: str, *, provider_url: str | None = None, timeout: float = 5,
                     plug_timeout: float = 5, mappings: bool = True) -> str:
        """The host's vif-driver config: the ovs driver on this switch, its
        bridge_mappings (``mappings=False``: none) and the provider."""
        self.box.write_config(path, timeout=timeout, plug_timeout=plug_timeout)
        with open(path, "a", encoding="utf-8") as f:
            if mappings and self.mappings:
                f.write("bridge_mappings = " + ",".join(f"{p}:{b}" for p, b in self.mappings.items()) + "\n")
            if provider_url:
                f.write(f"provider_url = {provider_url}\n")
        return path

    def attach(self, guest: Guest, xml: str | bytes, address: str, vm_id: str) -> Attachment:
        """libvirt's part of starting the vNIC the XML describes: the tap
        (here a veth whose peer is the guest's eth0) on <source bridge> with
        <vlan>'s tag and the external_ids, then eth0's MAC, MTU, address."""
        a = read_interface(xml)
        self.ns.veth(a.dev, "eth0", guest.ns, up=False)
        if a.mtu:
            self.ns.ip("link", "set", a.dev, "mtu", str(a.mtu))
            guest.ns.ip("link", "set", "eth0", "mtu", str(a.mtu))
        if a.mac:
            guest.ns.ip("link", "set", "eth0", "address", a.mac)
        self.ns.ip("link", "set", a.dev, "up")
        tx_checksum_off(guest.ns, "eth0")
        guest.ns.ip("link", "set", "eth0", "up")
        guest.ns.address("eth0", address)
        guest.address = address
        port = ["add-port", a.bridge, a.dev] + ([f"tag={a.tag}"] if a.tag is not None else [])
        self.box.vsctl("--", "--if-exists", "del-port", a.dev, "--", *port, "--", "set", "Interface", a.dev,
                       f'external_ids:attached-mac="{a.mac}"', f'external_ids:iface-id="{a.iface_id}"',
                       f'external_ids:vm-id="{vm_id}"', "external_ids:iface-status=active")
        return a

    def detach(self, dev: str) -> None:
        """libvirt's part of stopping the vNIC (or of the source side of a
        migration): the port and the tap go; the guest loses eth0."""
        self.box.vsctl("--if-exists", "del-port", dev)
        self.ns.delete_link(dev)

    def port_tag(self, dev: str) -> int | None:
        out = self.box.vsctl("get", "Port", dev, "tag", wait=False).strip()
        return None if out in ("[]", "") else int(out)


class Cluster:
    """The underlay, the hosts and the guests of one run; all removed by close()."""

    def __init__(self, physnets=("physnet1",), *, directory: str | None = None):
        self.run_id = uuid.uuid4().hex[:6]
        self.physnets = list(physnets)
        self.dir = directory or tempfile.mkdtemp(prefix="vif-hosts-")
        self._own_dir = directory is None
        self.stack = ExitStack()
        self.hosts: dict[str, Host] = {}
        self.guests: dict[str, Guest] = {}
        self.underlay: Namespace | None = None

    def __enter__(self) -> Cluster:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    def start(self) -> Cluster:
        try:
            self.underlay = Namespace(unique_name("vifunder"))
            self.stack.callback(self.underlay.delete)
            self.underlay.create()
            for i, _ in enumerate(self.physnets):
                self.underlay.bridge(self._trunk(i))
        except BaseException:
            self.close()
            raise
        return self

    def _trunk(self, index: int) -> str:
        return f"ul{index}-{self.run_id}"

    def add_host(self, name: str, *, mappings: bool = True) -> Host:
        """A host with br-int and (``mappings``) a bridge br-physN per
        physnet, uplinked to the underlay's trunk of that physnet."""
        index = len(self.hosts) + 1
        box = OvsSandbox(os.path.join(self.dir, name), netns=f"vifh{index}-{self.run_id}-{os.getpid()}")
        self.stack.callback(box.stop)
        box.start()
        box.add_bridge("br-int")
        bridges: dict[str, str] = {}
        if mappings:
            if self.underlay is None:
                raise RuntimeError("add_host() before start(): the underlay namespace does not exist yet")
            for i, physnet in enumerate(self.physnets):
                bridge = f"br-phys{i + 1}"
                box.add_bridge(bridge)
                near, far = f"u{index}{i}-{self.run_id}", f"p{index}{i}-{self.run_id}"
                host_ns = Namespace(box.netns)
                self.underlay.veth(near, far, host_ns)
                self.underlay.ip("link", "set", near, "master", self._trunk(i))
                tx_checksum_off(self.underlay, near)
                box.vsctl("add-port", bridge, far)
                bridges[physnet] = bridge
        host = Host(name, box, bridges)
        self.hosts[name] = host
        return host

    def add_guest(self, name: str) -> Guest:
        ns = Namespace(unique_name(f"vifg{len(self.guests) + 1}"))
        self.stack.callback(ns.delete)
        ns.create()
        guest = Guest(name, ns)
        self.guests[name] = guest
        return guest

    def close(self) -> None:
        """Stop every switch, delete every namespace (guests, hosts,
        underlay) and the work directory; idempotent."""
        try:
            self.stack.close()
        finally:
            if self._own_dir:
                shutil.rmtree(self.dir, ignore_errors=True)


def ping_matrix(guests: list[Guest], *, count: int = 2) -> dict[tuple[str, str], bool]:
    """(from, to) -> reachable, for every ordered pair of guests."""
    return {(a.name, b.name): a.ping(b.ip, count=count) for a in guests for b in guests if a is not b}


def lost_pings_during(source: Guest, ip: str, action, *, interval: float = 0.1, before: float = 1.0,
                      after: float = 3.0) -> tuple[int, int]:
    """(sent, lost) of pings every ``interval`` s from ``source`` to ``ip``
    while ``action()`` runs (e.g. a migration), ``before`` s ahead of it and
    ``after`` s behind it."""
    sent, lost, _ = pings_during(source, ip, action, interval=interval, before=before, after=after)
    return sent, lost


def pings_during(source: Guest, ip: str, action, *, interval: float = 0.1, before: float = 1.0,
                 after: float = 3.0) -> tuple[int, int, int]:
    """lost_pings_during, and the number of duplicate replies ("DUP!": two
    copies of a guest answering, as in a migration without activation)."""
    import time
    duration = before + after
    count = int(duration / interval) + 1
    argv = [_ip(), "netns", "exec", source.ns.name, "ping", "-n", "-i", str(interval), "-W", "1",
            "-c", str(count), ip]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    try:
        time.sleep(before)
        action()
        out, _ = proc.communicate(timeout=duration + 30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
    seq = set()
    dups = 0
    for line in out.decode(errors="replace").splitlines():
        if "icmp_seq=" in line:
            seq.add(int(line.split("icmp_seq=")[1].split()[0]))
            dups += "DUP!" in line
    return count, count - len(seq), dups


__all__ = ["Attachment", "Cluster", "Guest", "Host", "lost_pings_during", "ping_matrix", "pings_during",
           "read_interface"]

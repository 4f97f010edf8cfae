"""A simulated OVN cluster for tests and `vif-driver demo --backend ovn`.

Built on hosts.py: the underlay namespace of a ``hosts.Cluster`` (one
physnet, its Linux bridge = the underlay switch) also runs the central
part: the northbound and southbound ovsdb-servers (unix sockets for local
clients, TCP on the underlay for the chassis) and ovn-northd. Every host is
a ``hosts.Host`` (an OvsSandbox with br-int) whose physnet bridge br-phys1
holds the underlay NIC and the Geneve endpoint address (userspace
tunnelling resolves the remote endpoints through an OVS bridge), plus an
ovn-controller sharing the switch's run directory (it connects to
``$OVS_RUNDIR/br-int.mgmt``). See /work/shared/ovn-notes.md A1 for why each
piece is the way it is (tx checksum offload off on veths, MTU 1442).

    with OvnCluster() as ovn:
        h1, h2 = ovn.add_host("h1"), ovn.add_host("h2")
        ovn.nbctl("ls-add", "net1")
        ...

Everything is removed by close(); names carry a per-run id. Needs root.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import time

from vif_driver.tools.sandbox.hosts import Cluster, Host
from vif_driver.tools.sandbox.ovs import SandboxError, _alive, _tool, daemon_pid

log = logging.getLogger(__name__)

NB_SCHEMA = "/usr/share/ovn/ovn-nb.ovsschema"
SB_SCHEMA = "/usr/share/ovn/ovn-sb.ovsschema"
UNDERLAY = "172.31.254.{}"
CENTRAL = UNDERLAY.format(254)
NB_PORT, SB_PORT = 6641, 6642
GENEVE_MTU = 1442  # 1500 - Geneve's 58 bytes: bigger frames are dropped silently
TOOLS = ("ovsdb-tool", "ovsdb-server", "ovs-vswitchd", "ovs-vsctl", "ovs-appctl", "ovn-northd",
         "ovn-controller", "ovn-nbctl", "ovn-sbctl", "ip", "ping")


class OvnHost(Host):
    """A hypervisor that is an OVN chassis named ``system_id``."""

    @property
    def ovn_rundir(self) -> str:
        return self.box.dir

    def controller_pid(self) -> int | None:
        pid = daemon_pid(os.path.join(self.box.dir, "ovn-controller.pid"))
        return pid if pid and _alive(pid) else None

    def start_controller(self, timeout: float = 10) -> None:
        env = dict(self.box.env, OVN_RUNDIR=self.box.dir, OVN_LOGDIR=self.box.dir)
        d = self.box.dir
        argv = [_tool("ip"), "netns", "exec", self.box.netns, _tool("ovn-controller"), self.box.remote,
                "--pidfile=" + os.path.join(d, "ovn-controller.pid"),
                "--log-file=" + os.path.join(d, "ovn-controller.log"), "--detach", "--no-chdir"]
        _run(argv, env, timeout)

    def stop_controller(self, timeout: float = 5) -> None:
        """SIGTERM (no cleanup: the chassis stays in the southbound DB, as
        when the daemon crashes or is stopped by hand)."""
        _stop_pid(self.controller_pid(), timeout)

    def controller_log(self) -> str:
        try:
            with open(os.path.join(self.box.dir, "ovn-controller.log"), encoding="utf-8",
                      errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def write_config(self, path: str, *, provider_url: str | None = None, timeout: float = 5,
                     plug_timeout: float = 5, mappings: bool = False) -> str:
        """The host's vif-driver config; no bridge_mappings (the physnet
        bridge here is the underlay, not a provider network), vNIC MTU
        1442 (Geneve over a 1500-byte underlay)."""
        super().write_config(path, provider_url=provider_url, timeout=timeout, plug_timeout=plug_timeout,
                             mappings=mappings)
        with open(path, "a", encoding="utf-8") as f:
            f.write(f"mtu = {GENEVE_MTU}\n")
        return path


class OvnCluster(Cluster):
    """The central OVN databases and northd on the underlay, and chassis."""

    def __init__(self, *, directory: str | None = None, encap: str = "geneve"):
        super().__init__(["underlay"], directory=directory)
        self.encap = encap
        self.hosts: dict[str, OvnHost] = {}  # type: ignore[assignment]

    def __enter__(self) -> OvnCluster:
        return self.start()

    @property
    def nb_socket(self) -> str:
        return os.path.join(self.dir, "nb.sock")

    @property
    def sb_socket(self) -> str:
        return os.path.join(self.dir, "sb.sock")

    @property
    def nb_remote(self) -> str:
        """The northbound DB for clients on this machine (the provider)."""
        return "unix:" + self.nb_socket

    @property
    def sb_remote(self) -> str:
        return "unix:" + self.sb_socket

    @property
    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        for var in ("OVN_RUNDIR", "OVN_LOGDIR", "OVN_DBDIR", "OVS_RUNDIR", "OVS_LOGDIR"):
            env[var] = self.dir
        return env

    def start(self) -> OvnCluster:
        super().start()
        try:
            os.makedirs(self.dir, exist_ok=True)
            assert self.underlay is not None
            trunk = self._trunk(0)
            self.underlay.address(trunk, CENTRAL + "/24")
            self.stack.callback(self._stop_central)
            for db, schema, port in (("nb", NB_SCHEMA, NB_PORT), ("sb", SB_SCHEMA, SB_PORT)):
                path = os.path.join(self.dir, f"{db}.db")
                _run([_tool("ovsdb-tool"), "create", path, schema], self.env, 10)
                _run(self._in_underlay([_tool("ovsdb-server"), path, f"--remote=punix:{self.dir}/{db}.sock",
                                        f"--remote=ptcp:{port}:{CENTRAL}",
                                        f"--unixctl={self.dir}/{db}.ctl", f"--pidfile={self.dir}/{db}.pid",
                                        f"--log-file={self.dir}/{db}.log", "--detach", "--no-chdir"]),
                     self.env, 10)
            _run(self._in_underlay([_tool("ovn-northd"), "--ovnnb-db=" + self.nb_remote,
                                    "--ovnsb-db=" + self.sb_remote, f"--unixctl={self.dir}/northd.ctl",
                                    f"--pidfile={self.dir}/northd.pid", f"--log-file={self.dir}/northd.log",
                                    "--detach", "--no-chdir"]), self.env, 10)
            self.nbctl("init")
        except BaseException:
            self.close()
            raise
        return self

    def _in_underlay(self, argv: list[str]) -> list[str]:
        assert self.underlay is not None
        return [_tool("ip"), "netns", "exec", self.underlay.name] + argv

    def _stop_central(self) -> None:
        for name in ("northd", "sb", "nb"):
            _stop_pid(daemon_pid(os.path.join(self.dir, f"{name}.pid")), 5)

    def add_host(self, name: str, *, mappings: bool = True) -> OvnHost:  # noqa: ARG002 - always uplinked
        """A chassis ``name`` (its system-id), encap IP 172.31.254.<index>,
        its ovn-controller running."""
        plain = super().add_host(name, mappings=True)
        index = len(self.hosts)
        host = OvnHost(name, plain.box, {})
        self.hosts[name] = host
        box, ip = host.box, UNDERLAY.format(index)
        box.vsctl("set", "Open_vSwitch", ".", f"external_ids:system-id={name}")
        box.system_id = name
        box.vsctl("set", "Bridge", "br-int", "fail-mode=secure", "other_config:disable-in-band=true")
        host.ns.address("br-phys1", ip + "/24")
        host.ns.ip("link", "set", "br-phys1", "up")
        box.vsctl("set", "Open_vSwitch", ".", f"external_ids:ovn-remote=tcp:{CENTRAL}:{SB_PORT}",
                  f"external_ids:ovn-encap-type={self.encap}", f"external_ids:ovn-encap-ip={ip}",
                  "external_ids:ovn-bridge-datapath-type=netdev", "external_ids:ovn-remote-probe-interval=5000")
        self.stack.callback(host.stop_controller)  # before the switch stops (callbacks run last first)
        host.start_controller()
        return host

    def add_hosts(self, count: int) -> list[OvnHost]:
        return [self.add_host(f"ovn{i + 1}-{self.run_id}") for i in range(count)]

    # -- databases -------------------------------------------------------------
    def nbctl(self, *args: str, timeout: float = 10) -> str:
        return _run([_tool("ovn-nbctl"), "--db=" + self.nb_remote, f"--timeout={int(timeout)}"] + list(args),
                    self.env, timeout + 2)

    def sbctl(self, *args: str, timeout: float = 10) -> str:
        return _run([_tool("ovn-sbctl"), "--db=" + self.sb_remote, f"--timeout={int(timeout)}"] + list(args),
                    self.env, timeout + 2)

    def wait_chassis(self, timeout: float = 20) -> None:
        """Until every host is a chassis in the southbound DB with a tunnel
        to every other host."""
        want = set(self.hosts)
        deadline = time.monotonic() + timeout
        while True:
            names = set(self.sbctl("--bare", "--columns=name", "list", "Chassis").split())
            tunnels_ok = names >= want and all(
                len([p for p in h.box.ports("br-int") if p.startswith("ovn-")]) >= len(want) - 1
                for h in self.hosts.values())
            if tunnels_ok:
                self._resolve_endpoints()
                return
            if time.monotonic() > deadline:
                raise SandboxError(f"OVN chassis not all up after {timeout:g} s: have {sorted(names)}, "
                                   f"want {sorted(want)}")
            time.sleep(0.1)

    def _resolve_endpoints(self) -> None:
        """Each host pings every other host's tunnel endpoint once: the ARP
        answers teach ovs-vswitchd (which snoops them on br-phys1) where the
        remote endpoints are, so a guest's first packet into a tunnel is not
        dropped while that resolution happens."""
        hosts = list(self.hosts.values())
        for i, host in enumerate(hosts, start=1):
            for j, _ in enumerate(hosts, start=1):
                if i != j:
                    host.ns.exec(["ping", "-n", "-q", "-c", "1", "-W", "1", UNDERLAY.format(j)], timeout=5,
                                 check=False)

    def port_chassis(self, lsp: str) -> tuple[str, str]:
        """(chassis, additional_chassis) names of the port's SB binding."""
        def name_of(column: str) -> str:
            ref = self.sbctl("--bare", f"--columns={column}", "find", "Port_Binding",
                             f"logical_port={lsp}").strip()
            if not ref:
                return ""
            return " ".join(self.sbctl("--bare", "--columns=name", "list", "Chassis", r).strip()
                            for r in ref.split())
        return name_of("chassis"), name_of("additional_chassis")


# A DHCPDISCOVER on an AF_PACKET socket (the guest's eth0 has no address
# yet) and the first matching OFFER, printed as JSON: no DHCP client is
# installed here, and this is all a test needs of one.
_DHCP = r"""
import json, random, socket, struct, sys, time
mac = bytes.fromhex(sys.argv[1].replace(":", ""))
xid = random.getrandbits(32)
bootp = struct.pack("!BBBBIHH4s4s4s4s16s64s128s", 1, 1, 6, 0, xid, 0, 0x8000, bytes(4), bytes(4),
                    bytes(4), bytes(4), mac + bytes(10), b"", b"")
bootp += bytes([0x63, 0x82, 0x53, 0x63, 53, 1, 1, 55, 4, 1, 3, 26, 51, 255])
udp = struct.pack("!HHHH", 68, 67, 8 + len(bootp), 0) + bootp
ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0, bytes(4), b"\xff" * 4)
words = struct.unpack("!10H", ip)
total = sum(words)
total = (total & 0xffff) + (total >> 16)
ip = ip[:10] + struct.pack("!H", ~total & 0xffff) + ip[12:]
frame = b"\xff" * 6 + mac + b"\x08\x00" + ip + udp
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800))
s.bind(("eth0", 0))
s.settimeout(0.5)
end = time.monotonic() + float(sys.argv[2])
while time.monotonic() < end:
    s.send(frame)
    until = time.monotonic() + 1
    while time.monotonic() < until:
        try:
            data = s.recv(2048)
        except socket.timeout:
            continue
        ihl = (data[14] & 15) * 4
        if data[12:14] != b"\x08\x00" or data[23] != 17:
            continue
        udp_at = 14 + ihl
        reply = data[udp_at + 8:]
        if struct.unpack("!H", data[udp_at + 2:udp_at + 4])[0] != 68 or len(reply) < 240:
            continue
        if reply[0] != 2 or struct.unpack("!I", reply[4:8])[0] != xid:
            continue
        options, i = {}, 240
        while i < len(reply) and reply[i] != 255:
            if reply[i] == 0:
                i += 1
                continue
            options[reply[i]] = reply[i + 2:i + 2 + reply[i + 1]].hex()
            i += 2 + reply[i + 1]
        print(json.dumps({"yiaddr": socket.inet_ntoa(reply[16:20]), "options": options}))
        sys.exit(0)
sys.exit(1)
"""

# What QEMU's announce sends after a migration: RARP requests from the
# guest's MAC (ethertype 0x8035); OVN's activation-strategy=rarp waits for one.
_RARP = r"""
import socket, struct, sys, time
mac = bytes.fromhex(sys.argv[1].replace(":", ""))
frame = b"\xff" * 6 + mac + b"\x80\x35" + struct.pack("!HHBBH", 1, 0x0800, 6, 4, 3) + mac + bytes(4) + mac + bytes(4)
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("eth0", 0))
for n in range(int(sys.argv[2])):
    s.send(frame + bytes(60 - len(frame)))
    time.sleep(0.05)
"""


def dhcp_offer(guest, mac: str, timeout: float = 5.0) -> dict | None:
    """What OVN's native DHCP offers the guest's eth0 (MAC ``mac``):
    {"yiaddr": IP, "ip": same, "netmask", "router", "mtu"}, None without
    an offer within ``timeout``."""
    import json
    import socket
    import sys
    proc = guest.ns.exec([sys.executable, "-c", _DHCP, mac, str(timeout)], timeout=timeout + 5, check=False)
    if proc.returncode != 0:
        return None
    answer = json.loads(proc.stdout)
    options = answer["options"]

    def ip_of(code: str) -> str | None:
        value = options.get(code)
        return socket.inet_ntoa(bytes.fromhex(value[:8])) if value else None
    answer.update(netmask=ip_of("1"), router=ip_of("3"),
                  mtu=int(options["26"], 16) if "26" in options else None)
    return answer


def send_rarp(guest, mac: str, count: int = 3) -> None:
    """``count`` RARP frames from the guest's eth0, as QEMU's announce does."""
    import sys
    guest.ns.exec([sys.executable, "-c", _RARP, mac, str(count)], timeout=10)


def _stop_pid(pid: int | None, timeout: float) -> None:
    if not pid or not _alive(pid):
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not _alive(pid):
                return
            time.sleep(0.02)


def _run(argv: list[str], env: dict, timeout: float) -> str:
    try:
        proc = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise SandboxError(f"{' '.join(argv)}: no answer within {timeout:g} s") from None
    if proc.returncode != 0:
        raise SandboxError(f"{' '.join(argv)}: exit code {proc.returncode}: {proc.stderr.strip()}")
    return proc.stdout


__all__ = ["GENEVE_MTU", "OvnCluster", "OvnHost", "TOOLS", "dhcp_offer", "send_rarp"]

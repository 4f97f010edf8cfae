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
from vif_driver.tools.sandbox.ovs import SandboxError, _alive, _tool

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
        try:
            with open(os.path.join(self.box.dir, "ovn-controller.pid"), encoding="ascii") as f:
                pid = int(f.read().strip())
        except (OSError, ValueError):
            return None
        return pid if _alive(pid) else None

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
        bridge here is the underlay, not a provider network)."""
        return super().write_config(path, provider_url=provider_url, timeout=timeout,
                                    plug_timeout=plug_timeout, mappings=mappings)


class OvnCluster(Cluster):
    """The central OVN databases and northd on the underlay, and chassis."""

    def __init__(self, *, directory: str | None = None, encap: str = "geneve"):
        super().__init__(["underlay"], directory=directory)
        self.encap = encap
        self.hosts: dict[str, OvnHost] = {}  # type: ignore[assignment]

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
            _stop_pid(_read_pid(os.path.join(self.dir, f"{name}.pid")), 5)

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
                return
            if time.monotonic() > deadline:
                raise SandboxError(f"OVN chassis not all up after {timeout:g} s: have {sorted(names)}, "
                                   f"want {sorted(want)}")
            time.sleep(0.1)

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


def _read_pid(path: str) -> int | None:
    try:
        with open(path, encoding="ascii") as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


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


__all__ = ["GENEVE_MTU", "OvnCluster", "OvnHost", "TOOLS"]

"""`vif-driver demo`: the whole flow on one machine, step by step.

The reference provider, a throw-away Open vSwitch in its own network
namespace, and two "VMs" (namespaces whose eth0 is the far end of the vNIC's
tap). The demo plays the engine (REST calls to the provider), VDSM (the real
hook entrypoints through the emulated runner) and libvirt (the tap and its
OVS port), shows the guests ping each other and the stats hook's counters
grow, then unplugs and deletes everything. Cleans up even when interrupted.

SIGTERM and SIGINT never interrupt a step: the handler only records the
signal, and the demo stops at the next checkpoint (each step's start, the
waits). An exception raised at an arbitrary point would land inside
`ip netns add` or a daemon's --detach, after cleanup had looked for it: a
namespace or a process left behind. The cleanup itself runs to its end
(every call in it has a timeout), then sweeps /run/netns for the demo's own
names (NS_PREFIX ... -<pid>).
"""

from __future__ import annotations

import json
import os
import re
import signal
import sys
import tempfile
from contextlib import ExitStack

import click

SUBNET = "10.200.0.0/24"
NS_PREFIX = "vifdemo-"  # every namespace the demo makes


class DemoError(Exception):
    """A step failed; the message says which and why."""


class Interrupted(KeyboardInterrupt):
    """SIGTERM/SIGINT arrived; raised at the next checkpoint."""


class Signals:
    """Records SIGTERM/SIGINT for checkpoint(), instead of raising wherever
    the main thread happens to be."""

    def __init__(self):
        self.received: int | None = None
        self._previous = {}

    def install(self) -> None:
        for signum in (signal.SIGTERM, signal.SIGINT):
            self._previous[signum] = signal.signal(signum, self._record)

    def restore(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()

    def _record(self, signum, frame) -> None:
        self.received = signum

    def checkpoint(self) -> None:
        if self.received is not None:
            raise Interrupted()


class Demo:
    def __init__(self, workdir: str, echo=click.echo, signals: Signals | None = None):
        self.dir = workdir
        self.echo = echo
        self.signals = signals or Signals()
        self.stack = ExitStack()
        self.step_no = 0

    def checkpoint(self) -> None:
        self.signals.checkpoint()

    def step(self, text: str) -> None:
        self.checkpoint()
        self.step_no += 1
        self.echo(f"\n[{self.step_no}] {text}")

    def detail(self, text: str) -> None:
        for line in text.rstrip("\n").splitlines():
            self.echo("    " + line)

    # -- the parts -----------------------------------------------------------------
    def start_provider(self) -> str:
        from vif_driver.tools.sandbox.provider import ProviderError, ProviderProcess
        provider = ProviderProcess(self.dir, waiting=self.checkpoint)
        self.stack.callback(provider.stop)
        try:
            return provider.start().url
        except ProviderError as e:
            raise DemoError(str(e)) from None

    def start_switch(self):
        from vif_driver.tools.sandbox.ovs import OvsSandbox
        box = OvsSandbox(os.path.join(self.dir, "ovs"), netns=namespace_name("ovs"))
        self.stack.callback(box.stop)
        box.start()
        box.add_bridge("br-int")
        return box

    def guest(self, name: str):
        from vif_driver.tools.sandbox.netns import Namespace
        ns = Namespace(name)
        self.stack.callback(ns.delete)
        return ns.create()

    def reachability(self, guests, same_network) -> dict:
        """Ping every guest from every other and show the matrix; DemoError
        unless exactly the pairs ``same_network(a, b)`` (by name) reach."""
        from vif_driver.tools.sandbox.hosts import ping_matrix
        matrix = ping_matrix(guests, count=1)
        names = [g.name for g in guests]
        self.detail("from\\to " + " ".join(f"{n:>5}" for n in names))
        for a in names:
            cells = ["    -" if a == b else ("  yes" if matrix[(a, b)] else "   no") for b in names]
            self.detail(f"{a:<7} " + " ".join(cells))
        expected = {(a, b): same_network(a, b) for a in names for b in names if a != b}
        if matrix != expected:
            raise DemoError(f"unexpected reachability: {sorted(k for k, v in matrix.items() if v != expected[k])}")
        return matrix

    def run_hook(self, hooks, hook_point, data, props, vm_id, config):
        from vif_driver.tools import runner
        env = dict(os.environ, VIF_DRIVER_CONFIG=config)
        run = runner.run_hooks(hooks, hook_point, data, device_properties=props, vm_id=vm_id,
                               base_env=env, timeout=60)
        status = "ok" if run.rc == 0 else f"exit code {run.rc}"
        self.detail(f"{hook_point}: {status}" + (f" — {run.stderr.strip()}" if run.stderr.strip() else ""))
        if run.rc != 0:
            raise DemoError(f"{hook_point} failed: {run.stderr.strip()}")
        return run


def namespace_name(what: str) -> str:
    """vifdemo-WHAT-PID (then -TAG when $VIF_SANDBOX_TAG is set)."""
    from vif_driver.tools.sandbox.netns import tagged
    return tagged(f"{NS_PREFIX}{what}-{os.getpid()}")


def own_namespace(name: str, pid: int | None = None) -> bool:
    """Whether a namespace name is one this demo process (``pid``) makes."""
    return re.fullmatch(re.escape(NS_PREFIX) + r"[a-z0-9]+-" + str(pid or os.getpid()) + r"(-[a-z0-9]{1,8})?",
                        name) is not None


def sweep_namespaces() -> list[str]:
    """Delete what is left in /run/netns of this process' names (e.g. a
    namespace whose creation a cleanup did not see); returns their names."""
    from vif_driver.tools.sandbox.netns import Namespace
    try:
        names = [n for n in os.listdir("/run/netns") if own_namespace(n)]
    except OSError:
        return []
    for name in names:
        Namespace(name).delete()
    return names


def run_demo(workdir: str, echo=click.echo, signals: Signals | None = None) -> dict:
    """The flow; returns what was measured (for the tests). Raises DemoError,
    or Interrupted at a checkpoint after a signal."""
    from vif_driver.provider_client.http import call
    from vif_driver.tools import install
    from vif_driver.tools.sandbox.hosts import engine_interface

    demo = Demo(workdir, echo, signals)
    with demo.stack:
        demo.stack.callback(sweep_namespaces)  # runs last
        demo.detail(f"work directory {workdir}")
        demo.step("Provider: start the reference provider (Neutron v2.0 subset)")
        url = demo.start_provider()
        api = url + "/v2.0"
        demo.detail(f"serving on {url}")

        demo.step("Switch: start a throw-away Open vSwitch (userspace datapath) with bridge br-int")
        box = demo.start_switch()
        demo.detail(f"ovsdb {box.remote}, namespace {box.netns}, system-id {box.system_id}")

        demo.step("Engine: create an external network and a subnet on the provider")
        net = call("POST", api + "/networks", {"network": {"name": "demo-net"}})["network"]
        subnet = call("POST", api + "/subnets", {"subnet": {"network_id": net["id"], "cidr": SUBNET,
                                                             "ip_version": 4, "name": "demo-subnet"}})["subnet"]
        demo.detail(f"network {net['id']}\nsubnet {subnet['id']} {subnet['cidr']}")

        hooks = os.path.join(workdir, "hooks")
        install.install_hooks(hooks, sys.executable, hooks_dir="")
        config = os.path.join(workdir, "vif-driver.conf")
        box.write_config(config, timeout=10, plug_timeout=10)
        with open(config, "a", encoding="utf-8") as f:
            f.write(f"provider_url = {url}\n")
        demo.detail(f"hooks installed in {hooks}; host config {config}")

        vms = []
        for name in ("vm1", "vm2"):
            vm_id = _uuid()
            demo.step(f"Engine: provision the vNIC of {name} (GET ports?device_id, then POST ports)")
            found = call("GET", f"{api}/ports?device_id={vm_id}")["ports"]
            if found:
                raise DemoError(f"{name} already has ports on the provider")
            port = call("POST", api + "/ports", {"port": {
                "network_id": net["id"], "device_id": vm_id, "device_owner": "oVirt", "name": f"{name}-nic1",
                "binding:host_id": box.system_id}})["port"]
            ip = port["fixed_ips"][0]["ip_address"]
            demo.detail(f"port {port['id']} mac {port['mac_address']} ip {ip}")
            props = {"provider_type": "EXTERNAL_NETWORK", "plugin_type": "OVIRT_PROVIDER_OVN",
                     "vnic_id": port["id"]}

            demo.step(f"VDSM: start {name}: before_device_create rewrites the engine's XML")
            engine_xml = engine_interface(port["mac_address"])
            run = demo.run_hook(hooks, "before_device_create", engine_xml, props, vm_id, config)
            demo.detail(run.text)

            tap = "tap" + port["id"][:11]
            demo.step(f"libvirt: create {tap} for {name} and add it to br-int with its external_ids")
            guest = demo.guest(namespace_name(name))
            from vif_driver.tools.sandbox.hosts import read_interface
            from vif_driver.tools.sandbox.netns import Namespace
            Namespace(box.netns).veth(tap, "eth0", guest)
            guest.ip("link", "set", "eth0", "address", port["mac_address"])
            guest.address("eth0", f"{ip}/{SUBNET.split('/')[1]}")
            box.plug_tap(tap, iface_id=port["id"], mac=port["mac_address"], vm_id=vm_id, create_devices=False)
            tag = read_interface(run.data).tag  # the local network's tag: libvirt applies <vlan>
            if tag is not None:
                box.vsctl("set", "Port", tap, f"tag={tag}")

            demo.step(f"VDSM: after_device_create confirms {tap} is on br-int with an ofport")
            demo.run_hook(hooks, "after_device_create", "", props, vm_id, config)
            vms.append({"name": name, "vm_id": vm_id, "port": port, "ip": ip, "tap": tap, "guest": guest,
                        "props": props, "xml": run.text})

        demo.step("VDSM: after_get_stats before any traffic")
        before = _stats(demo, hooks, config, vms)

        demo.step(f"Traffic: {vms[0]['name']} pings {vms[1]['name']} ({vms[1]['ip']}) through br-int")
        demo.checkpoint()
        ping = vms[0]["guest"].exec(["ping", "-c", "3", "-W", "2", vms[1]["ip"]], check=False, timeout=30)
        demo.detail(ping.stdout.decode(errors="replace"))
        if ping.returncode != 0:
            raise DemoError(f"{vms[0]['name']} could not ping {vms[1]['name']}: "
                            f"{ping.stderr.decode(errors='replace').strip()}")

        demo.step("VDSM: after_get_stats after the ping: the counters grew")
        after = _stats(demo, hooks, config, vms)
        grew = {vm["tap"]: int(after[vm["tap"]]["rx"]) > int(before[vm["tap"]]["rx"]) for vm in vms}
        if not all(grew.values()):
            raise DemoError(f"counters did not grow: {grew}")

        for vm in vms:
            demo.step(f"VDSM: hot-unplug the vNIC of {vm['name']}")
            demo.run_hook(hooks, "before_nic_hotunplug", vm["xml"], vm["props"], vm["vm_id"], config)
            vm["guest"].delete()  # libvirt closes the tap; its OVS port stays behind
            demo.run_hook(hooks, "after_nic_hotunplug", vm["xml"], vm["props"], vm["vm_id"], config)
            left = [p for p in box.ports("br-int") if p == vm["tap"]]
            if left:
                raise DemoError(f"{vm['tap']} is still on br-int after the unplug")
            demo.detail(f"{vm['tap']} removed from br-int")

        demo.step("Engine: delete the ports, the subnet and the network on the provider")
        for vm in vms:
            call("DELETE", f"{api}/ports/{vm['port']['id']}")
        call("DELETE", f"{api}/subnets/{subnet['id']}")
        call("DELETE", f"{api}/networks/{net['id']}")
        remaining = call("GET", f"{api}/ports?network_id={net['id']}")["ports"]
        demo.detail(f"ports left on the network: {len(remaining)}")

        demo.step("Clean up: stop the switch and the provider, remove the namespaces")
    return {"ping": ping.returncode == 0, "before": before, "after": after}


def _stats(demo, hooks, config, vms) -> dict:
    run = demo.run_hook(hooks, "after_get_stats", {"network": {}}, {}, None, config)
    network = run.json()["network"]
    missing = [vm["tap"] for vm in vms if vm["tap"] not in network]
    if missing:
        raise DemoError(f"stats report no counters for {', '.join(missing)}")
    for vm in vms:
        entry = network[vm["tap"]]
        demo.detail(f"{vm['tap']}: rx {entry['rx']} bytes, tx {entry['tx']} bytes, state {entry['state']}")
    return network


def _uuid() -> str:
    import uuid
    return str(uuid.uuid4())


@click.command()
@click.option("--keep-dir", type=click.Path(file_okay=False), help="Work in this directory and keep its logs.")
@click.option("--networks", is_flag=True, help="Network types instead: two vlan networks, three VMs on two "
              "hosts, a ping matrix (vif_driver/tools/demo_networks.py).")
@click.option("--backend", type=click.Choice(["sqlite", "ovn"]), default="sqlite", show_default=True,
              help="ovn: a simulated OVN cluster instead: overlay networks across --hosts chassis, DHCP, a live "
              "migration (vif_driver/tools/demo_ovn.py).")
@click.option("--hosts", type=click.IntRange(2, 9), default=3, show_default=True,
              help="Simulated hosts (OVN chassis) of --backend ovn.")
def demo(keep_dir, networks, backend, hosts):
    """Run the whole flow on this machine: provider, hooks, switch, traffic.

    Needs root (network namespaces) and Open vSwitch installed (its daemons
    are not used: a throw-away ovsdb-server and ovs-vswitchd run in a temp
    directory). Only loopback and namespaces the demo creates carry traffic.
    """
    if os.geteuid() != 0:
        raise click.ClickException("the demo needs root: it creates network namespaces")
    if backend == "ovn":
        if networks:
            raise click.UsageError("--networks and --backend ovn are two different demos; choose one")
        from vif_driver.tools.demo_ovn import run_ovn_demo
        result = _guarded(lambda workdir, signals: run_ovn_demo(workdir, signals=signals, hosts=hosts), keep_dir,
                          "vif-demo-ovn-")
        m = result["migration"]
        click.echo(f"\ndemo: blue spans {hosts} OVN chassis through Geneve, red reaches nobody, vm4 took "
                   f"{result['dhcp']['yiaddr']} from OVN's DHCP; live migration: {m['lost']} of {m['sent']} "
                   f"pings lost, {m['duplicates']} duplicates, {m['chassis_changes']} chassis changes")
        return
    if hosts != 3:
        raise click.UsageError("--hosts is an option of --backend ovn")
    if networks:
        from vif_driver.tools.demo_networks import run_networks_demo
        _guarded(run_networks_demo, keep_dir, "vif-demo-net-")
        click.echo("\ndemo: vm1 and vm2 (blue, vlan 101) reach each other across the hosts; "
                   "vm3 (red, vlan 102) shares host1 and physnet1 with vm1 yet reaches nobody")
        return
    result = _guarded(run_demo, keep_dir, "vif-demo-")
    click.echo("\ndemo: the guests pinged each other through the provider's network and the stats "
               f"counters grew ({json.dumps({k: v['rx'] for k, v in result['after'].items()})})")


def _guarded(run, keep_dir: str | None, prefix: str):
    """``run(workdir, signals=...)`` with SIGTERM/SIGINT acted on only at its
    checkpoints, in keep_dir or a temporary directory; every failure is one
    line (the run has cleaned up by then)."""
    signals = Signals()
    signals.install()
    try:
        if keep_dir:
            os.makedirs(keep_dir, exist_ok=True)
            result = run(os.path.abspath(keep_dir), signals=signals)
        else:
            with tempfile.TemporaryDirectory(prefix=prefix) as workdir:
                result = run(workdir, signals=signals)
        signals.checkpoint()  # a signal during the last step's cleanup
        return result
    except KeyboardInterrupt:
        left = [n for n in os.listdir("/run/netns") if own_namespace(n)] if os.path.isdir("/run/netns") else []
        if left:
            raise click.ClickException(f"interrupted; could not remove namespaces {', '.join(left)}") from None
        raise click.ClickException("interrupted; everything the demo started was stopped and removed") from None
    except DemoError as e:
        raise click.ClickException(("interrupted: " if signals.received else "") + str(e)) from None
    except Exception as e:  # noqa: BLE001 - sandbox/provider errors: one line, cleanup already done
        raise click.ClickException(("interrupted: " if signals.received else "") + f"{type(e).__name__}: {e}") from None
    finally:
        signals.restore()

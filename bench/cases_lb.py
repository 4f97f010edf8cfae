"""Linux bridge driver cases, run in a network namespace of their own.

The bench process itself enters the namespace (its children, the timed
hooks, the baselines and the agent, inherit it), so the hooks run in
production shape: no netns option, the "host" namespace is simply the one
they start in. 1,000 taps sit on the managed bridge.

Through the agent (vif-driverd, the production path) every case is held to
1.3x a bare interpreter: the agent keeps the driver resident, its netlink
sockets open and a fresh snapshot of the links. The stats case gets VDSM's
real input: its host stats list every link, so the JSON holds an entry per
tap (~220 KB). In-process (no agent: pyroute2 imported and the links dumped
by the hook itself) the figures are reported without a limit.
"""

import contextlib
import json
import os
import subprocess

from vif_driver.core.netns import netns
from vif_driver.drivers.linux_bridge.naming import bridge_name
from vif_driver.tools import install
from vif_driver.tools.sandbox.netns import Namespace, kernel_supports

from cases_agent import _agent
from hookbench import ENGINE_XML, Case, writer

VNIC_ID = "6a9f5e2b-71a3-4c1e-9d1b-2f4e6a8c0b13"
TAPS = 1000
LIMIT = 1.3
POINTS = ["before_device_create", "after_get_caps", "after_get_stats"]
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _vdsm_stats() -> str:
    """after_get_stats input as VDSM makes it: an entry for every link."""
    names = ["eth0", "eth1", "eth1p"] + [f"tapbench{i:04d}" for i in range(TAPS)]
    network = {name: {"name": name, "rxErrors": "0", "rxDropped": "0", "txErrors": "0", "txDropped": "0",
                      "rx": "123456", "tx": "654321", "sampleTime": 1732200000.0, "speed": "1000",
                      "duplex": "unknown", "state": "up"} for name in names}
    return json.dumps({"cpuIdle": "98.50", "memUsed": "12", "network": network, "vmCount": 2})


@contextlib.contextmanager
def cases(workdir, python):
    kind = "vlan" if kernel_supports("vlan") else "vxlan"  # vxlan: stand-in on kernels without 8021q
    hooks = {os.path.basename(os.path.dirname(p)): p for p in install.install_hooks(workdir, python,
                                                                                     hook_points=POINTS)}
    config = os.path.join(workdir, "vif-driver.conf")
    with open(config, "w") as f:
        f.write(f"[vif-driver]\ntimeout = 10\nagent_socket = {workdir}/no-agent.sock\n"
                "[plugin_types]\nOPEN_VSWITCH =\nOVIRT_PROVIDER_OVN =\nLINUX_BRIDGE = linux_bridge\n"
                f"[driver:linux_bridge]\nphysical_interface_mappings = physnet1:eth1\n"
                f"lock_dir = {workdir}/locks\nuplink_kind = {kind}\n")
    xml, caps_file, stats_file = (os.path.join(workdir, n) for n in ("device.xml", "caps.json", "stats.json"))
    with open(os.path.join(REPO, "tests", "fixtures", "json", "caps.json"), encoding="utf-8") as f:
        caps_input = f.read()
    stats_input = _vdsm_stats()
    props = {"provider_type": "EXTERNAL_NETWORK", "plugin_type": "LINUX_BRIDGE", "vnic_id": VNIC_ID,
             "physical_network": "physnet1", "segmentation_id": "100", "mtu": "1400"}
    base = dict(os.environ, VIF_DRIVER_CONFIG=config, VIF_DRIVER_AGENT_SOCKET=f"{workdir}/no-agent.sock",
                vmId="0b7c3a5e-8c2f-4f4b-9a6e-1d2c3b4a5f60")
    socket_path = os.path.join(workdir, "agent.sock")
    agent = dict(base, VIF_DRIVER_AGENT_SOCKET=socket_path)
    bridge = bridge_name("physnet1", 100)

    fresh_xml, fresh_caps, fresh_stats = (writer(xml, ENGINE_XML), writer(caps_file, caps_input),
                                          writer(stats_file, stats_input))

    def plugged():
        with open(xml) as f:
            assert f'<source bridge="{bridge}"/>' in f.read(), "plug did not rewrite the XML"

    def reported():
        with open(caps_file) as f:
            section = json.load(f)["vif_driver"]["drivers"]["linux_bridge"]
        assert section["bridges"][bridge]["ports"] == TAPS, section["bridges"]

    def counted():  # VDSM lists every tap: its entries stand, its file is left as it wrote it
        with open(stats_file) as f:
            assert f.read() == stats_input, "VDSM's stats were rewritten although it lists every tap"

    def case(name, point, env, file, prepare, check, limit):
        return Case(name, [hooks[point]], env=dict(env, **{"_hook_domxml" if file == xml else "_hook_json": file}),
                    limit=limit, prepare=prepare, check=check)

    with Namespace() as ns:
        ns.veth("eth1", "eth1p")
        with netns(ns.name):
            fresh_xml()
            subprocess.run([hooks["before_device_create"]], env=dict(base, _hook_domxml=xml, **props),
                           check=True, timeout=60)  # builds bridge and VLAN
            plugged()
            batch = os.path.join(workdir, "taps.batch")
            with open(batch, "w") as f:
                for i in range(TAPS):
                    f.write(f"tuntap add dev tapbench{i:04d} mode tap\n"
                            f"link set tapbench{i:04d} master {bridge} up\n")
            ns.exec(["ip", "-batch", batch], timeout=120)
            with _agent(python, config, socket_path, os.path.join(workdir, "agent.log")):
                yield [
                    case("agent: LB plug, bridge and VLAN present", "before_device_create",
                         dict(agent, **props), xml, fresh_xml, plugged, LIMIT),
                    case("agent: LB after_get_caps", "after_get_caps", agent, caps_file, fresh_caps,
                         reported, LIMIT),
                    case(f"agent: LB after_get_stats, {TAPS} taps, VDSM's input", "after_get_stats", agent,
                         stats_file, fresh_stats, counted, LIMIT),
                    case("in-process: LB plug, bridge and VLAN present", "before_device_create",
                         dict(base, **props), xml, fresh_xml, plugged, None),
                    case("in-process: LB after_get_caps", "after_get_caps", base, caps_file, fresh_caps,
                         reported, None),
                    case(f"in-process: LB after_get_stats, {TAPS} taps", "after_get_stats", base, stats_file,
                         fresh_stats, counted, None),
                ]

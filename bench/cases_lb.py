"""Linux bridge driver cases, run in a network namespace of their own.

The bench process itself enters the namespace (its children, the timed
hooks and baselines, inherit it), so the hook runs in production shape:
no netns option, the "host" namespace is simply the one it starts in.
"""

import contextlib
import json
import os
import subprocess

from hookbench import ENGINE_XML, Case, writer

from vif_driver.tools import install
from vif_driver.drivers.linux_bridge.naming import bridge_name
from vif_driver.core.netns import netns
from vif_driver.tools.sandbox.netns import Namespace, kernel_supports

VNIC_ID = "6a9f5e2b-71a3-4c1e-9d1b-2f4e6a8c0b13"
TAPS = 1000


@contextlib.contextmanager
def cases(workdir, python):
    kind = "vlan" if kernel_supports("vlan") else "vxlan"  # vxlan: stand-in on kernels without 8021q
    hooks = install.install_hooks(workdir, python, hook_points=["before_device_create", "after_get_stats"])
    plug_hook = next(h for h in hooks if "/before_device_create/" in h)
    stats_hook = next(h for h in hooks if "/after_get_stats/" in h)
    config = os.path.join(workdir, "vif-driver.conf")
    with open(config, "w") as f:
        f.write(f"[vif-driver]\ntimeout = 10\nagent_socket = {workdir}/no-agent.sock\n"
                "[plugin_types]\nOPEN_VSWITCH =\nOVIRT_PROVIDER_OVN =\nLINUX_BRIDGE = linux_bridge\n"
                f"[driver:linux_bridge]\nphysical_interface_mappings = physnet1:eth1\n"
                f"lock_dir = {workdir}/locks\nuplink_kind = {kind}\n")
    xml = os.path.join(workdir, "device.xml")
    stats_file = os.path.join(workdir, "stats.json")
    stats_input = json.dumps({"network": {"eth0": {"name": "eth0", "rx": "1", "tx": "1"}}})
    props = {"provider_type": "EXTERNAL_NETWORK", "plugin_type": "LINUX_BRIDGE", "vnic_id": VNIC_ID,
             "physical_network": "physnet1", "segmentation_id": "100", "mtu": "1400"}
    base = dict(os.environ, VIF_DRIVER_CONFIG=config, vmId="0b7c3a5e-8c2f-4f4b-9a6e-1d2c3b4a5f60")
    plug_env = dict(base, _hook_domxml=xml, **props)
    stats_env = dict(base, _hook_json=stats_file)
    bridge = bridge_name("physnet1", 100)

    fresh_xml, fresh_stats = writer(xml, ENGINE_XML), writer(stats_file, stats_input)

    def plugged():
        with open(xml) as f:
            assert f'<source bridge="{bridge}"/>' in f.read(), "plug did not rewrite the XML"

    def counted():
        with open(stats_file) as f:
            network = json.load(f)["network"]
        assert len(network) == TAPS + 1, f"stats reported {len(network) - 1} taps, expected {TAPS}"

    with Namespace() as ns:
        ns.veth("eth1", "eth1p")
        with netns(ns.name):
            fresh_xml()
            subprocess.run([plug_hook], env=plug_env, check=True, timeout=60)  # builds bridge and VLAN
            plugged()
            batch = os.path.join(workdir, "taps.batch")
            with open(batch, "w") as f:
                for i in range(TAPS):
                    f.write(f"tuntap add dev tapbench{i:04d} mode tap\n"
                            f"link set tapbench{i:04d} master {bridge} up\n")
            ns.exec(["ip", "-batch", batch], timeout=120)
            yield [
                Case("LB plug, bridge and VLAN present (before_device_create)", [plug_hook], env=plug_env,
                     baseline="lxml", limit=1.2, prepare=fresh_xml, check=plugged),
                Case(f"LB after_get_stats, {TAPS} taps on a managed bridge", [stats_hook], env=stats_env,
                     baseline="bare", limit=3.0, prepare=fresh_stats, check=counted),
            ]

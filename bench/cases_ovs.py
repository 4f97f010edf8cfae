"""OVS driver cases on a throw-away Open vSwitch (needs root: it runs
ovs-vswitchd in a network namespace of its own).

- the plug rewrite, which must not touch OVS: at most 1.2x a process that
  only imports lxml.etree;
- after_get_stats with 1,000 external vNICs (real taps on br-int), on
  VDSM's real input (its host stats list every link, so each tap already
  has an entry: ~220 KB): reported, no limit (a hook process without the
  agent connects with ovsdbapp and reads the tables; speed is the agent's);
- post-plug confirmation with VDSM's empty XML: reported against a process
  that only imports the OVSDB library (ovs.db.idl), no limit.
"""

import contextlib
import json
import os

from vif_driver.core.netns import netns
from vif_driver.tools import install
from vif_driver.tools.sandbox.ovs import OvsSandbox

from hookbench import ENGINE_XML, Case, writer

VNIC_ID = "6a9f5e2b-71a3-4c1e-9d1b-2f4e6a8c0b13"
VM_ID = "0b7c3a5e-8c2f-4f4b-9a6e-1d2c3b4a5f60"
N_VNICS = 1000



def _vdsm_entry(name: str, i: int) -> dict:
    """A link's entry as VDSM's host stats give it (netstats.py)."""
    return {"name": name, "rx": str(1000 + i), "tx": str(2000 + i), "rxDropped": "0", "txDropped": "0",
            "rxErrors": "0", "txErrors": "0", "speed": "10", "state": "up", "duplex": "full",
            "sampleTime": 1795288906.04}


def stats_input(n=None) -> str:
    """VDSM's after_get_stats JSON: eth0 and an entry per tap (VDSM's host
    stats list every link of the host), ~220 KB for 1,000 vNICs."""
    taps = [tap for tap, _port, _mac, _vm in _vnics(N_VNICS if n is None else n)]
    network = {"eth0": _vdsm_entry("eth0", 0)}
    network.update((tap, _vdsm_entry(tap, i)) for i, tap in enumerate(taps, 1))
    return json.dumps({"cpuUser": "1.5", "cpuSys": "0.5", "memUsed": "40", "network": network})


LOCAL_TAG = "7"  # the benchmarked vNIC is on a local network: plug writes <vlan>, post-plug checks the tag
TAG_PROPS = {"network_type": "local", "local_tag": LOCAL_TAG}  # as vNIC custom properties



def _vnics(n):
    """n (tap, port id, mac, vm id); the first is the benchmarked vNIC."""
    yield "tap" + VNIC_ID[:11], VNIC_ID, "00:1a:4a:16:01:51", VM_ID
    for i in range(1, n):
        port_id = f"{i:08x}-0000-4000-8000-{i:012x}"
        yield "tap" + port_id[:11], port_id, f"00:1a:4a:{i >> 16 & 255:02x}:{i >> 8 & 255:02x}:{i & 255:02x}", VM_ID


def rewritten(xml):
    """Check: the plug rewrote the device XML at ``xml`` for OVS."""
    def check():
        with open(xml) as f:
            text = f.read()
        assert "openvswitch" in text and 'dev="tap6a9f5e2b-71"' in text, text
        assert f'<tag id="{LOCAL_TAG}"/>' in text, text
    return check


def all_reported(stats):
    """Check: the stats file holds VDSM's entry and every vNIC's, each
    updated with the kernel's counters (VDSM's own fields kept)."""
    def check():
        with open(stats) as f:
            network = json.load(f)["network"]
        assert len(network) == N_VNICS + 1, len(network)
        entry = network["tap" + VNIC_ID[:11]]
        assert entry["duplex"] == "full" and entry["sampleTime"] != 1795288906.04, entry
    return check


def tag_port(box):
    """libvirt's part of <vlan><tag id='7'/>: the benchmarked port's tag."""
    box.vsctl("set", "Port", "tap" + VNIC_ID[:11], f"tag={LOCAL_TAG}")


@contextlib.contextmanager
def cases(workdir, python):
    hooks = dict(zip(["after_device_create", "after_get_stats", "before_device_create"],
                     install.install_hooks(workdir, python, hook_points=[
                         "after_device_create", "after_get_stats", "before_device_create"])))
    box = OvsSandbox(os.path.join(workdir, "ovs")).start()
    try:
        box.add_bridge("br-int")
        box.plug_taps(list(_vnics(N_VNICS)))
        tag_port(box)
        config = box.write_config(os.path.join(workdir, "vif-driver.conf"), timeout=10, plug_timeout=10,
                                  netns=False)
        xml, empty, stats = (os.path.join(workdir, name) for name in ("device.xml", "empty.xml", "stats.json"))
        vnic_env = dict(os.environ, VIF_DRIVER_CONFIG=config, vmId=VM_ID, provider_type="EXTERNAL_NETWORK",
                        plugin_type="OPEN_VSWITCH", vnic_id=VNIC_ID, **TAG_PROPS)

        # Production shape: the hooks run in the namespace where the taps
        # live (the bench process enters it; its children inherit it), so no
        # netns option and no setns in the timed processes.
        with netns(box.netns):
            yield [
                Case("OVS plug rewrite (before_device_create)", [hooks["before_device_create"]],
                     env=dict(vnic_env, _hook_domxml=xml), baseline="lxml", limit=None,
                     prepare=writer(xml, ENGINE_XML), check=rewritten(xml)),
                Case(f"after_get_stats {N_VNICS:,} vNICs", [hooks["after_get_stats"]],
                     env=dict(os.environ, VIF_DRIVER_CONFIG=config, _hook_json=stats), baseline="bare", limit=None,
                     prepare=writer(stats, stats_input()), check=all_reported(stats)),
                Case("post-plug confirmation (after_device_create, empty XML)", [hooks["after_device_create"]],
                     env=dict(vnic_env, _hook_domxml=empty), baseline="ovs", limit=None,
                     prepare=writer(empty, "")),
            ]
    finally:
        box.stop()

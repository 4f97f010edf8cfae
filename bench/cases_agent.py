"""Hook cases with the resident agent (vif-driverd) answering: the hook
process imports only the standard library's C modules, reads no host config
(configparser and re would cost it about one bare start) and asks the agent,
which decides ownership and keeps lxml, the drivers and their OVSDB
connection warm. Every case
is held to 1.3x a bare interpreter (ovirt-provider-ovn's in-process hook:
2.0x). Needs root: the Open vSwitch sandbox of cases_ovs, whose setup
(1,000 vNICs on br-int) is reused here.
"""

import contextlib
import json
import os
import subprocess
import time

from vif_driver.tools import install
from vif_driver.tools.sandbox.ovs import OvsSandbox

import cases_ovs
from cases_core import FOREIGN_XML
from hookbench import ENGINE_XML, REPO, Case, writer

LIMIT = 1.3
POINTS = ["before_device_create", "after_device_create", "after_get_caps", "after_get_stats"]


@contextlib.contextmanager
def _agent(python, config, socket_path, log_path):
    daemon = os.path.join(os.path.dirname(python), "vif-driverd")
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([daemon, "--listen", socket_path, "--config", config],
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while not os.path.exists(socket_path):
            if proc.poll() is not None or time.monotonic() > deadline:
                with open(log_path) as f:
                    raise RuntimeError(f"vif-driverd did not start: {f.read()}")
            time.sleep(0.05)
        yield proc
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@contextlib.contextmanager
def cases(workdir, python):
    hooks = {os.path.basename(os.path.dirname(p)): p
             for p in install.install_hooks(workdir, python, hook_points=POINTS)}
    box = OvsSandbox(os.path.join(workdir, "ovs")).start()
    try:
        box.add_bridge("br-int")
        box.plug_taps(list(cases_ovs._vnics(cases_ovs.N_VNICS)))
        cases_ovs.tag_port(box)
        # maps the OVS plugin types only, as in cases_ovs
        config = box.write_config(os.path.join(workdir, "vif-driver.conf"), timeout=10, plug_timeout=10)
        socket_path = os.path.join(workdir, "agent.sock")
        # the taps in VDSM's own namespace (no netns): what a host runs; the
        # drivers then leave VDSM's stats unread. Stats only: plugging there
        # would touch this machine's network.
        host_config = box.write_config(os.path.join(workdir, "host-namespace.conf"), timeout=10,
                                       plug_timeout=10, netns=False)
        host_socket = os.path.join(workdir, "agent-host.sock")
        with _agent(python, config, socket_path, os.path.join(workdir, "agent.log")), \
                _agent(python, host_config, host_socket, os.path.join(workdir, "agent-host.log")):
            yield list(_cases(workdir, hooks, config, socket_path, host_socket))
    finally:
        box.stop()


def _cases(workdir, hooks, config, socket_path, host_socket):
    xml, empty, stats, foreign, caps = (os.path.join(workdir, name) for name in
                                        ("device.xml", "empty.xml", "stats.json", "foreign.xml", "caps.json"))
    with open(os.path.join(REPO, "tests", "fixtures", "json", "caps.json"), encoding="utf-8") as f:
        caps_input = f.read()
    base = dict(os.environ, VIF_DRIVER_CONFIG=config, VIF_DRIVER_AGENT_SOCKET=socket_path,
                vmId=cases_ovs.VM_ID)
    vnic_env = dict(base, provider_type="EXTERNAL_NETWORK", plugin_type="OPEN_VSWITCH",
                    vnic_id=cases_ovs.VNIC_ID, **cases_ovs.TAG_PROPS)

    def unchanged():
        with open(foreign) as f:
            assert f.read() == FOREIGN_XML, "a foreign vNIC's XML was changed"

    yield Case("agent: foreign vNIC (oVirt network)", [hooks["before_device_create"]],
               env=dict(base, _hook_domxml=foreign), limit=LIMIT,
               prepare=writer(foreign, FOREIGN_XML), check=unchanged)
    yield Case("agent: OVS plug (before_device_create)", [hooks["before_device_create"]],
               env=dict(vnic_env, _hook_domxml=xml), limit=LIMIT,
               prepare=writer(xml, ENGINE_XML), check=cases_ovs.rewritten(xml))
    yield Case("agent: post-plug confirmation (after_device_create, empty XML)",
               [hooks["after_device_create"]], env=dict(vnic_env, _hook_domxml=empty), limit=LIMIT,
               prepare=writer(empty, ""))
    yield Case("agent: OVS after_get_caps", [hooks["after_get_caps"]], env=dict(base, _hook_json=caps),
               limit=LIMIT, prepare=writer(caps, caps_input), check=_caps_reported(caps))
    listed = cases_ovs.stats_input()

    def as_vdsm_wrote():
        with open(stats, encoding="utf-8") as f:
            assert f.read() == listed, "VDSM's stats were rewritten"

    yield Case(f"agent: after_get_stats {cases_ovs.N_VNICS:,} vNICs in VDSM's namespace", [hooks["after_get_stats"]],
               env=dict(base, _hook_json=stats, VIF_DRIVER_AGENT_SOCKET=host_socket), limit=LIMIT,
               prepare=writer(stats, listed), check=as_vdsm_wrote)
    unseen = cases_ovs.stats_input(taps_listed=False)
    yield Case(f"agent: after_get_stats {cases_ovs.N_VNICS:,} vNICs in a namespace VDSM cannot see",
               [hooks["after_get_stats"]],
               env=dict(base, _hook_json=stats), limit=None,
               prepare=writer(stats, unseen), check=cases_ovs.all_reported(stats, taps_listed=False))


def _caps_reported(path):
    def check():
        with open(path, encoding="utf-8") as f:
            caps = json.load(f)
        assert caps["openstack_binding_host_ids"].get("OPEN_VSWITCH"), "no binding host id reported"
    return check

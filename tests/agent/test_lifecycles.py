"""Whole vNIC lifecycles (tests/fixtures/lifecycle/<driver>) with the hooks
running as the unprivileged vdsm user through the agent, against a
throw-away Open vSwitch and network namespaces; the same fixtures in-process
as root give the same results."""

import os
import subprocess
import uuid

import pytest

from agent_helpers import (
    AGENT_USER,
    FIXTURES,
    VM_ID,
    VNIC_ID,
    comparable,
    hook_env,
    lifecycle,
    require_tool,
    run,
    without_freshness,
)

pytestmark = [pytest.mark.root]

MAC = "00:1a:4a:16:01:51"
TAP = "tap" + VNIC_ID[:11]


@pytest.fixture
def ovs_box(users, ovs):
    return ovs


def _ovs_libvirt(box):
    """Libvirt's part: the tap joins br-int after the plug rewrite."""
    def step(fixture, result):
        assert result.rc == fixture.expect.get("exit_code", 0), (fixture.path, result.stderr)
        if fixture.hook_point == "before_device_create":
            box.plug_tap(TAP, iface_id=VNIC_ID, mac=MAC, vm_id=VM_ID)
    return step


@pytest.mark.ovs
def test_ovs_lifecycle_as_vdsm_matches_in_process(ovs_box, shared_dir, stdlib_hooks, start_agent, hooks_root):
    config = ovs_box.write_config(os.path.join(shared_dir, "ovs.conf"), timeout=3, plug_timeout=3)
    os.chmod(config, 0o644)
    agent = start_agent(config)
    root, lib = stdlib_hooks
    directory = os.path.join(FIXTURES, "lifecycle", "ovs")
    through_agent = lifecycle(directory, root, hook_env(config, agent.socket, lib), user=AGENT_USER,
                              after_step=_ovs_libvirt(ovs_box))
    assert len(through_agent) == 15
    assert ovs_box.ports() == []  # hot-unplug removed the port libvirt left
    plugged = through_agent[0][1].text
    assert "openvswitch" in plugged and f'dev="{TAP}"' in plugged
    in_process = lifecycle(directory, hooks_root,
                           dict(os.environ, VIF_DRIVER_CONFIG=config, VIF_DRIVER_AGENT_SOCKET="/nonexistent"),
                           after_step=_ovs_libvirt(ovs_box))
    assert [comparable(*r) for r in through_agent] == [comparable(*r) for r in in_process]
    assert f"uid {users_uid(AGENT_USER)}" in agent.log()


@pytest.mark.ovs
def test_ovs_stats_through_the_agent_match_in_process_and_are_fresh(ovs_box, shared_dir, start_agent, hooks_root):
    """The agent reads the devices from its resident OVSDB view and the
    counters from a fresh sample: its answer is the in-process one but for
    the counters' progress, sampleTime is the time of the read, and a new
    vNIC shows up as soon as the view has it. The very first request waits
    for the view's initial contents (no fallback gap). A vNIC VDSM reports
    itself keeps VDSM's entry: then the document is left as VDSM wrote it."""
    import json
    import time

    from vif_driver.hook import client
    from vif_driver.hook.protocol import Request

    config = ovs_box.write_config(os.path.join(shared_dir, "ovs.conf"), timeout=3, plug_timeout=3)
    ovs_box.plug_tap(TAP, iface_id=VNIC_ID, mac=MAC, vm_id=VM_ID)
    agent = start_agent(config)
    vdsm = json.dumps({"network": {"eth0": {"name": "eth0", "rx": "5"}}, "cpuUser": "1.5"})
    req = Request("after_get_stats", vdsm, {})
    asked = time.time()
    served = client.call(req, agent.socket)
    assert served.exit_code == 0, served.messages
    assert any("(the agent's view)" in a for a in served.actions), served.actions
    in_process = run(hooks_root, "after_get_stats", vdsm,
                     env=dict(os.environ, VIF_DRIVER_CONFIG=config, VIF_DRIVER_AGENT_SOCKET="/nonexistent"))
    assert in_process.rc == 0, in_process.stderr
    got, expected = json.loads(served.data), json.loads(in_process.text)
    assert without_freshness(got) == without_freshness(expected)
    assert list(got["network"]) == list(expected["network"]) == ["eth0", TAP]  # added after VDSM's own
    assert got["network"][TAP]["duplex"] == "unknown" and got["network"]["eth0"] == {"name": "eth0", "rx": "5"}
    assert asked <= got["network"][TAP]["sampleTime"] <= time.time()
    listed = json.dumps({"network": {TAP: {"name": TAP, "rx": "7"}}}, indent=1)
    unchanged = client.call(Request("after_get_stats", listed, {}), agent.socket)
    assert unchanged.exit_code == 0 and unchanged.data is None, unchanged.messages  # the hook leaves the file
    alone = run(hooks_root, "after_get_stats", listed,
                env=dict(os.environ, VIF_DRIVER_CONFIG=config, VIF_DRIVER_AGENT_SOCKET="/nonexistent"))
    assert alone.rc == 0 and alone.text == listed, alone.stderr
    other = "tap0f1e2d3c-4b"
    ovs_box.plug_tap(other, iface_id="0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0", mac="00:1a:4a:16:01:52", vm_id=VM_ID)
    deadline = time.monotonic() + 2
    while other not in json.loads(client.call(req, agent.socket).data)["network"]:
        assert time.monotonic() < deadline, "a new vNIC was not reported once the switch had it"
        time.sleep(0.05)


def users_uid(name):
    import pwd
    return pwd.getpwnam(name).pw_uid


@pytest.fixture
def lb_netns(users, shared_dir):
    """A namespace holding the uplink eth1 (a veth), as in the fixtures' README."""
    require_tool("ip")
    name = "vifag" + uuid.uuid4().hex[:8]
    subprocess.run(["ip", "netns", "add", name], check=True, timeout=30)
    try:
        subprocess.run(["ip", "-n", name, "link", "add", "eth1", "type", "veth", "peer", "name", "eth1p"],
                       check=True, timeout=30)
        subprocess.run(["ip", "-n", name, "link", "set", "eth1", "up"], check=True, timeout=30)
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False, timeout=30)


@pytest.mark.netns
def test_linux_bridge_lifecycle_as_vdsm_matches_in_process(lb_netns, shared_dir, stdlib_hooks, start_agent,
                                                           hooks_root):
    config = os.path.join(shared_dir, "lb.conf")
    with open(config, "w") as f:
        f.write("[vif-driver]\ntimeout = 3\n[plugin_types]\nOPEN_VSWITCH =\nOVIRT_PROVIDER_OVN =\n"
                f"[driver:linux_bridge]\nnetns = {lb_netns}\nphysical_interface_mappings = physnet1:eth1\n"
                f"lock_dir = {shared_dir}/lb-locks\nuplink_kind = {_uplink_kind()}\n")
    os.chmod(config, 0o644)
    agent = start_agent(config)
    root, lib = stdlib_hooks
    directory = os.path.join(FIXTURES, "lifecycle", "linux_bridge")

    def expected(fixture, result):
        assert result.rc == fixture.expect.get("exit_code", 0), (fixture.path, result.stderr)
    through_agent = lifecycle(directory, root, hook_env(config, agent.socket, lib), user=AGENT_USER,
                              after_step=expected)
    assert through_agent[0][1].rc == 0
    in_process = lifecycle(directory, hooks_root,
                           dict(os.environ, VIF_DRIVER_CONFIG=config, VIF_DRIVER_AGENT_SOCKET="/nonexistent"),
                           after_step=expected)
    assert [comparable(*r) for r in through_agent] == [comparable(*r) for r in in_process]


def _uplink_kind() -> str:
    """802.1Q where the kernel has it, else the driver's vxlan stand-in (as
    tests/linux_bridge does on kernels without CONFIG_VLAN_8021Q)."""
    from vif_driver.tools.sandbox.netns import kernel_supports
    return "vlan" if kernel_supports("vlan") else "vxlan"

"""Whole vNIC lifecycles (tests/fixtures/lifecycle/<driver>) with the hooks
running as the unprivileged vdsm user through the agent, against a
throw-away Open vSwitch and network namespaces; the same fixtures in-process
as root give the same results."""

import os
import subprocess
import uuid

import pytest
from agent_helpers import AGENT_USER, FIXTURES, VM_ID, VNIC_ID, comparable, hook_env, lifecycle, require_tool

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
    from vif_driver.sandbox.netns import kernel_supports
    return "vlan" if kernel_supports("vlan") else "vxlan"

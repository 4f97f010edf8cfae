"""`vif-driver doctor` on a host set up by the tests, then broken in turn."""

import os
import subprocess
import sys

import pytest
from agent_helpers import AGENT_USER

pytestmark = pytest.mark.root

ONLY_TEST = "[plugin_types]\nOPEN_VSWITCH =\nOVIRT_PROVIDER_OVN =\nLINUX_BRIDGE =\nTEST_SDN = test\n"


def doctor(config, hooks, driver_site, socket_path, *extra):
    env = dict(os.environ, PYTHONPATH=driver_site, VIF_DRIVER_AGENT_SOCKET=socket_path)
    proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), "vif-driver"), "doctor",
                           "--config", config, "--hooks-dir", hooks, *extra],
                          capture_output=True, text=True, timeout=60, env=env, check=False)
    return proc.returncode, proc.stdout + proc.stderr


@pytest.fixture
def host(users, shared_dir, stdlib_hooks, driver_site, start_agent):
    config = os.path.join(shared_dir, "doctor.conf")
    with open(config, "w") as f:
        f.write("[vif-driver]\ntimeout = 5\n" + ONLY_TEST)
    os.chmod(config, 0o644)
    agent = start_agent(config)
    return config, stdlib_hooks[0], driver_site, agent


def test_a_good_host_passes(host):
    config, hooks, site, agent = host
    rc, out = doctor(config, hooks, site, agent.socket)
    assert rc == 0, out
    assert "all checks passed" in out
    assert f"({AGENT_USER} may use it)" in out and "driver test handles TEST_SDN" in out


def test_missing_and_unexecutable_hooks(host):
    config, hooks, site, agent = host
    os.unlink(os.path.join(hooks, "after_get_stats", "50_vif_driver"))
    os.chmod(os.path.join(hooks, "before_device_create", "50_vif_driver"), 0o644)
    rc, out = doctor(config, hooks, site, agent.socket)
    assert rc == 1
    assert "hook entrypoints missing" in out and "after_get_stats" in out
    assert "before_device_create/50_vif_driver (mode -rw-r--r--)" in out and "chmod 0755" in out


def test_missing_agent_socket_says_how_to_start_it(host):
    config, hooks, site, _ = host
    rc, out = doctor(config, hooks, site, "/nonexistent/agent.sock")
    assert rc == 1 and "systemctl enable --now vif-driverd.socket" in out


def test_socket_the_vdsm_user_cannot_use(host):
    config, hooks, site, agent = host
    os.chmod(agent.socket, 0o600)
    rc, out = doctor(config, hooks, site, agent.socket)
    assert rc == 1 and f"not writable by {AGENT_USER}" in out and "SocketGroup=" in out


def doctor_with(host, shared_dir, text):
    """Run doctor on the test host with a config holding ``text``."""
    _, hooks, site, agent = host
    path = os.path.join(shared_dir, "doctor.conf")
    with open(path, "w") as f:
        f.write(text)
    return doctor(path, hooks, site, agent.socket)


def test_invalid_config_and_unknown_driver(host, shared_dir):
    rc, out = doctor_with(host, shared_dir, "[vif-driver]\ntimeout = never\n")
    assert rc == 1 and "timeout" in out and "FAIL" in out
    rc, out = doctor_with(host, shared_dir, ONLY_TEST + "OTHER_SDN = nosuchdriver\n")
    assert rc == 1 and "no driver named 'nosuchdriver'" in out


def test_unreachable_ovs_and_missing_bridge(host, shared_dir, ovs):
    rc, out = doctor_with(host, shared_dir,
                          "[plugin_types]\nLINUX_BRIDGE =\n[driver:ovs]\novsdb = unix:/nonexistent/db.sock\n")
    assert rc == 1 and "Open vSwitch is not reachable at unix:/nonexistent/db.sock" in out
    rc, out = doctor_with(host, shared_dir,
                          f"[plugin_types]\nLINUX_BRIDGE =\n[driver:ovs]\novsdb = {ovs.remote}\nbridge = br-missing\n")
    assert rc == 1 and f"ok    Open vSwitch answers at {ovs.remote}" in out
    assert f"Open vSwitch system-id {ovs.system_id}" in out
    assert "FAIL  OVS bridge br-missing does not exist" in out and "ovs-vsctl add-br br-missing" in out

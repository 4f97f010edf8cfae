"""Teardown always proceeds, as VDSM really runs the hooks: unprivileged
(the vdsm user, #!/usr/bin/python3, standard library only). With the agent
stopped, refusing, hung, or the config broken, before_nic_hotunplug,
before_device_destroy and before_device_migrate_source exit 0 with one
warning line; the plug hooks still stop the operation (2); the after-hooks
report it (1)."""

import os
import socket
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from vif_driver.hook import client

from agent_helpers import AGENT_USER, ENGINE_XML, VNIC_ID, hook_env, run

pytestmark = pytest.mark.root

TEARDOWN = ["before_nic_hotunplug", "before_device_destroy", "before_device_migrate_source"]
EXPECTED = dict({p: 0 for p in TEARDOWN}, before_device_create=2, before_nic_hotplug=2,
                before_update_device=2, before_device_migrate_destination=2, after_device_destroy=1)
PROPS = {"provider_type": "EXTERNAL_NETWORK", "plugin_type": "TEST_SDN", "vnic_id": VNIC_ID}


def run_all(root, env, props=PROPS, timeout=60):
    """Every hook point of EXPECTED as vdsm, in parallel (a hung agent makes
    each wait for its timeout); {hook point: (result, seconds)}."""
    def one(point):
        started = time.monotonic()
        result = run(root, point, ENGINE_XML, props=props, user=AGENT_USER, env=env, timeout=timeout)
        return point, (result, time.monotonic() - started)
    with ThreadPoolExecutor(len(EXPECTED)) as pool:
        return dict(pool.map(one, EXPECTED))


def check(results, *needles):
    for point, (result, _took) in results.items():
        assert result.rc == EXPECTED[point], (point, result.stderr)
        assert result.aborted == (EXPECTED[point] == 2)
        assert result.text == ENGINE_XML, point  # untouched
        lines = result.stderr.splitlines()
        assert len(lines) == 1, (point, result.stderr)
        assert len(lines[0]) <= 240 and lines[0].startswith(f"vif-driver {point}: "), lines[0]
        for needle in needles:
            assert needle in lines[0], (point, lines[0])


def test_agent_stopped(users, agent_config, stdlib_hooks):
    root, lib = stdlib_hooks
    results = run_all(root, hook_env(agent_config(), "/nonexistent/vif-teardown.sock", lib))
    check(results, "the agent socket /nonexistent/vif-teardown.sock is missing and this hook runs unprivileged",
          "start the agent: systemctl enable --now vif-driverd.socket")


def test_agent_refusing_connections(users, agent_config, stdlib_hooks, shared_dir):
    root, lib = stdlib_hooks
    path = os.path.join(shared_dir, "refusing.sock")
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(path)  # bound, never listening: connection refused
    os.chmod(path, 0o666)
    check(run_all(root, hook_env(agent_config(), path, lib)),
          "refusing.sock is not answering (connection refused)")


def test_agent_hung(users, agent_config, stdlib_hooks, shared_dir):
    """A socket that accepts and never answers: each hook gives up after the
    client's fixed bound for the first message (it reads no config), and
    teardown goes on."""
    root, lib = stdlib_hooks
    path = os.path.join(shared_dir, "hung.sock")
    bound = client.FIRST_ANSWER
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(path)
        os.chmod(path, 0o666)
        listener.listen(16)  # the kernel completes the connections; nobody reads or answers
        results = run_all(root, hook_env(agent_config(timeout=0.5), path, lib), timeout=bound + 30)
    check(results, f"the agent at {path} did not answer within {bound:g} s")
    for point, (_result, took) in results.items():
        assert bound - 0.5 < took < bound + 10, (point, took)


def test_broken_config(users, shared_dir, stdlib_hooks):
    root, lib = stdlib_hooks
    path = os.path.join(shared_dir, "broken.conf")
    with open(path, "w") as f:
        f.write("[vif-driver]\ntimeout = 5\n[plugin_types\nTEST_SDN = test\n")
    os.chmod(path, 0o644)
    check(run_all(root, hook_env(path, "/nonexistent/vif-teardown.sock", lib)),
          f"config {path}: line 3: malformed section header '[plugin_types'")


def test_unreadable_config(users, shared_dir, stdlib_hooks):
    """A built-in plugin_type is ours whatever the file says, so an
    unreadable file is an error (for any other, may_map cannot tell: not ours)."""
    root, lib = stdlib_hooks
    path = os.path.join(shared_dir, "secret.conf")
    with open(path, "w") as f:
        f.write("[plugin_types]\nTEST_SDN = test\n")
    os.chmod(path, 0o600)  # root's only
    check(run_all(root, hook_env(path, "/nonexistent/vif-teardown.sock", lib),
                  props=dict(PROPS, plugin_type="OPEN_VSWITCH")),
          f"config {path}: cannot read: Permission denied; make it readable by the hooks' user (vdsm, uid ")


@pytest.mark.parametrize("props, needle", [
    (dict(PROPS, fail_in="unplug_device"), "bridge br-test is not there; create it"),
    (dict(PROPS, vnic_id="bad id"), "property vnic_id: 'bad id' is not a port id"),
])
def test_failures_served_by_the_agent(users, agent_config, start_agent, stdlib_hooks, props, needle):
    """The agent answers with the same exit codes (its refusals too)."""
    config = agent_config()
    agent = start_agent(config)
    root, lib = stdlib_hooks
    env = hook_env(config, agent.socket, lib)
    for point in ("before_nic_hotunplug", "before_device_destroy"):
        result = run(root, point, ENGINE_XML, props=props, user=AGENT_USER, env=env)
        assert result.rc == 0 and not result.failed, result.stderr
        assert result.text == ENGINE_XML
        (line,) = result.stderr.splitlines()
        assert needle in line and len(line) <= 240
    plug = run(root, "before_nic_hotplug", ENGINE_XML, props=dict(props, fail_in="plug_device"),
               user=AGENT_USER, env=env)
    assert plug.rc == 2 and plug.aborted

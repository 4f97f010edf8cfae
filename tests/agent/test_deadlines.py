"""The agent's deadline covers the wait a driver declares for a call
(VifDriver.wait_bound: the OVS post-plug check's plug_timeout), and teardown
never waits behind an earlier request of its vNIC, whether that one is in a
long wait or hung in its backend."""

import os
import threading
import time

import pytest

from vif_driver.hook import client
from vif_driver.hook.protocol import Request

from agent_helpers import AGENT_USER, ENGINE_XML, VNIC_ID, hook_env, run

pytestmark = pytest.mark.root

SLOW = {"provider_type": "EXTERNAL_NETWORK", "plugin_type": "SLOW_SDN", "vnic_id": VNIC_ID}
OVS = {"provider_type": "EXTERNAL_NETWORK", "plugin_type": "OPEN_VSWITCH", "vnic_id": VNIC_ID}
TAP = "tap" + VNIC_ID[:11]


def _timed(fn, *args, **kwargs):
    started = time.monotonic()
    result = fn(*args, **kwargs)
    return result, time.monotonic() - started


def _in_thread(fn):
    out = {}
    thread = threading.Thread(target=lambda: out.update(zip(("value", "took"), _timed(fn))), daemon=True)
    thread.start()
    return thread, out


def test_a_declared_wait_extends_the_deadline(agent_config, start_agent):
    """timeout 1 (2 x timeout = 2 s) and a driver that says its after-plug
    may wait 3 s: a call of 3 s is answered, not cut off at 2 s; one past
    the 5 s names both parts of its deadline."""
    agent = start_agent(agent_config(timeout=1))
    answer, took = _timed(client.call, Request("after_device_create", "", dict(SLOW, sleep="3", wait="3")),
                          agent.socket)
    assert answer.exit_code == 0, answer.messages
    assert 2.9 < took < 4.5, took
    late, took = _timed(client.call, Request("after_device_create", "", dict(SLOW, sleep="7", wait="3",
                                                                                  vnic_id="vnic-2")),
                        agent.socket)
    assert late.exit_code == 1 and 4.9 < took < 6.5, (late.messages, took)
    assert late.messages == [
        "vif-driver agent: after_device_create vnic vnic-2: no answer from the driver within 5 s "
        "(2 x [vif-driver] timeout + the driver's wait of 3 s); its backend hangs: check it, "
        "then journalctl -u vif-driverd"]


def test_teardown_runs_at_once_beside_a_hung_request(agent_config, start_agent):
    """A plug hung past its deadline holds its vNIC: another plug of it
    still waits (and says so), a teardown runs at once and says, in one
    line, what it did not wait for."""
    agent = start_agent(agent_config(timeout=1))  # deadline 2 s
    hung = client.call(Request("before_device_create", ENGINE_XML, dict(SLOW, sleep="8")), agent.socket)
    assert hung.exit_code == 2 and "no answer from the driver within 2 s" in hung.messages[0]
    for point in ("before_device_destroy", "after_device_destroy"):
        answer, took = _timed(client.call, Request(point, ENGINE_XML, SLOW), agent.socket)
        assert took < 0.5, (point, took)
        assert answer.exit_code == 0 and len(answer.messages) == 1, answer.messages
        assert answer.messages[0].startswith(
            f"vif-driver agent: {point} vnic {VNIC_ID}: ran without waiting for the earlier "
            "before_device_create of this vNIC, hung in the driver for ")
    assert "runs alongside the earlier before_device_create" in agent.log()


@pytest.mark.ovs
def test_post_plug_wait_through_the_agent_is_plug_timeout(users, ovs, shared_dir, stdlib_hooks, start_agent,
                                                         hooks_root):
    """timeout 2, plug_timeout 6, the port never appears: through the agent
    the check ends as in-process, after 6 s with the port's state, not at
    2 x timeout; meanwhile the VM's destroy hooks answer at once."""
    config = ovs.write_config(os.path.join(shared_dir, "ovs.conf"), timeout=2, plug_timeout=6)
    os.chmod(config, 0o644)
    agent = start_agent(config)
    root, lib = stdlib_hooks
    env = hook_env(config, agent.socket, lib)

    def hook(point, **kwargs):
        return run(root, point, "", props=OVS, user=AGENT_USER, env=env, **kwargs)
    in_process, local = _in_thread(lambda: run(
        hooks_root, "after_device_create", "", props=OVS,
        env=dict(os.environ, VIF_DRIVER_CONFIG=config, VIF_DRIVER_AGENT_SOCKET="/nonexistent")))
    check, through_agent = _in_thread(lambda: hook("after_device_create"))
    time.sleep(1.5)  # the check is waiting for the port now
    for point in ("before_device_destroy", "after_device_destroy"):
        result, took = _timed(hook, point)
        assert result.rc == 0 and result.stderr == "", (point, result.stderr)
        assert took < 1.5, (point, took)  # a hook run as vdsm, not a wait for the check
    check.join(20)
    in_process.join(20)
    result = through_agent["value"]
    assert result.rc == 1 and 5.5 < through_agent["took"] < 8.5, (result.stderr, through_agent["took"])
    assert result.stderr.startswith(f"vif-driver[ovs] after_device_create vnic {VNIC_ID}: port {TAP} "
                                    "not connected after 6 s: "), result.stderr
    assert result.stderr == local["value"].stderr and result.rc == local["value"].rc
    assert "no answer from the driver" not in agent.log()


def test_requests_over_the_driver_call_limit_wait_for_a_call_to_end(agent_config, start_agent):
    """More requests than driver calls may run at once (calls.MAX_CALLS):
    the extra ones wait for a slot within their deadline, none is refused,
    and no more than MAX_CALLS run at once."""
    from vif_driver.agent.calls import MAX_CALLS
    agent = start_agent(agent_config(timeout=5))
    count = MAX_CALLS + 8
    answers = {}

    def one(i):
        answers[i] = client.call(Request("before_device_create", ENGINE_XML,
                                         dict(SLOW, vnic_id=f"vnic-{i}", sleep="1.5")), agent.socket)
    threads = [threading.Thread(target=one, args=(i,)) for i in range(count)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    took = time.monotonic() - started
    assert sorted(answers) == list(range(count))
    assert {a.exit_code for a in answers.values()} == {0}, [a.messages for a in answers.values() if a.exit_code]
    assert 2.9 < took < 8, took  # two rounds of 1.5 s: MAX_CALLS at a time

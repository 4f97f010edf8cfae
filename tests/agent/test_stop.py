"""vif-driverd exits within a bound after SIGTERM, whatever its connections
are doing: idle (connected, nothing sent), in flight in a slow driver call,
hung past the deadline, or arriving in a steady stream."""

import os
import signal
import socket
import threading
import time

import pytest

from vif_driver.agent.server import CLOSE_GRACE, READ_TIMEOUT, stop_grace
from vif_driver.hook import client
from vif_driver.hook.protocol import Request

from agent_helpers import ENGINE_XML, VNIC_ID

pytestmark = pytest.mark.root

SLOW = {"provider_type": "EXTERNAL_NETWORK", "plugin_type": "SLOW_SDN", "vnic_id": VNIC_ID}


def _terminate(agent) -> float:
    """SIGTERM the agent; seconds until it exited (fails past the bound)."""
    started = time.monotonic()
    agent.proc.send_signal(signal.SIGTERM)
    assert agent.proc.wait(timeout=stop_grace(1) + CLOSE_GRACE + 5) == 0, agent.log()
    return time.monotonic() - started


def _in_thread(fn):
    out = {}

    def run():
        try:
            out["value"] = fn()
        except Exception as e:  # noqa: BLE001 - the test inspects it
            out["error"] = e
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, out


def test_idle_connections_do_not_hold_a_stop(agent_config, start_agent):
    agent = start_agent(agent_config(timeout=1))
    idle = []
    for _ in range(5):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(agent.socket)
        idle.append(s)
    time.sleep(0.3)  # accepted, each pooled thread waiting for a request
    try:
        took = _terminate(agent)
    finally:
        for s in idle:
            s.close()
    assert took < READ_TIMEOUT + 2, took
    assert not os.path.exists(agent.socket)
    assert "stopped" in agent.log()


def test_a_request_in_flight_is_answered_before_the_exit(agent_config, start_agent):
    agent = start_agent(agent_config(timeout=2))  # deadline 4 s
    thread, out = _in_thread(lambda: client.call(
        Request("before_device_create", ENGINE_XML, dict(SLOW, sleep="1.5")), agent.socket))
    time.sleep(0.5)  # in the driver call now
    took = _terminate(agent)
    thread.join(10)
    assert "error" not in out, out
    assert out["value"].exit_code == 0 and 'bridge="br-slow"' in out["value"].data
    assert 1.0 < took < 4, took  # waited for it, not for its whole deadline


def test_a_hung_request_bounds_the_stop_by_its_deadline(agent_config, start_agent):
    agent = start_agent(agent_config(timeout=1))  # deadline 2 s; the call sleeps 30
    thread, out = _in_thread(lambda: client.call(
        Request("before_device_create", ENGINE_XML, dict(SLOW, sleep="30")), agent.socket))
    time.sleep(0.5)
    took = _terminate(agent)
    thread.join(10)
    assert out["value"].exit_code == 2 and "no answer from the driver" in out["value"].messages[0]
    assert took < stop_grace(1) + 1, took


def test_sigterm_under_a_stream_of_requests(agent_config, start_agent):
    """Repeatedly: SIGTERM lands at a random point of the accept loop (the
    old handler raised there and could leave a lock taken: "stopping", then
    no exit)."""
    config = agent_config(timeout=1)
    for round_no in range(8):
        agent = start_agent(config, socket_path=os.path.join(os.path.dirname(config), f"s{round_no}.sock"))
        stop = threading.Event()

        def hammer(path=agent.socket, stop=stop):
            while not stop.is_set():
                try:
                    client.call(Request("after_get_caps", "{}", {}), path)
                except client.AgentError:
                    pass
        threads = [threading.Thread(target=hammer, daemon=True) for _ in range(6)]
        for t in threads:
            t.start()
        time.sleep(0.2 + 0.1 * round_no)
        try:
            assert _terminate(agent) < 3
        finally:
            stop.set()
            for t in threads:
                t.join(10)

"""The agent's resident OVSDB views follow the config: a remote the config
no longer names has its view closed (it would reconnect and log forever),
and a new remote gets a view however often the config changed."""

import os
import re
import time

import pytest

from vif_driver.hook import client
from vif_driver.hook.protocol import Request

pytestmark = [pytest.mark.root, pytest.mark.ovs]

AGENTS_VIEW = "(the agent's view)"


def _caps(agent):
    answer = client.call(Request("after_get_caps", "{}", {}), agent.socket)
    assert answer.exit_code == 0, answer.messages
    return answer


def _set_remote(config, remote):
    with open(config) as f:
        text = f.read()
    with open(config, "w") as f:
        f.write(re.sub(r"(?m)^ovsdb = .*$", f"ovsdb = {remote}", text))


def test_views_follow_the_configured_remote(ovs, shared_dir, start_agent):
    config = ovs.write_config(os.path.join(shared_dir, "ovs.conf"), timeout=1, plug_timeout=1)
    gone = [f"unix:{shared_dir}/gone{i}.sock" for i in range(4)]  # nothing listens there
    _set_remote(config, gone[0])
    agent = start_agent(config, "--log-level", "DEBUG")
    for remote in gone:
        _set_remote(config, remote)
        answer = _caps(agent)
        assert "Open vSwitch is down at unix:" in answer.messages[0]
    # a fifth remote in a row (view.Registry.MAX = 4): still a view, not a connection per call
    _set_remote(config, ovs.remote)
    assert any(AGENTS_VIEW in a for a in _caps(agent).actions)
    # the old remotes' views are closed once no call can still use them
    # (their last call's deadline: 2 x timeout + plug_timeout = 3 s)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not all(f"OVSDB view of {r} closed" in agent.log() for r in gone):
        time.sleep(0.2)
    log = agent.log()
    assert all(f"OVSDB view of {r} closed" in log for r in gone), log[-3000:]
    time.sleep(1)
    after = agent.log()[len(log):]
    assert "not connected" not in after, after  # no longer reconnecting
    # a failing view says so once at INFO, its repeats are debug lines
    for remote in gone:
        assert log.count(f"INFO OVSDB view of {remote} not connected") <= 1

"""VIF_DRIVER_IN_PROCESS=1, the development switch: an unprivileged caller
(replay on a laptop, an RPM's %check in mock) is answered in its own process
and never through an agent; without it entry.call refuses and asks for the
agent. The caller is made unprivileged by replacing entry._privileged."""

import os
import socket

import pytest

from vif_driver.core import config
from vif_driver.hook import entry
from vif_driver.hook.protocol import Request

from support import FIXTURES, external_props

with open(os.path.join(FIXTURES, "xml", "engine-nic.xml"), encoding="utf-8") as _f:
    ENGINE_XML = _f.read()


@pytest.fixture
def unprivileged(monkeypatch, tmp_path):
    monkeypatch.setattr(entry, "_privileged", lambda: False)
    conf = tmp_path / "vif-driver.conf"
    conf.write_text("[vif-driver]\ntimeout = 5\n")

    def request(socket_path, switch=None, **extra):
        env = {"VIF_DRIVER_CONFIG": str(conf), "VIF_DRIVER_AGENT_SOCKET": socket_path,
               **external_props(mtu="10", **extra)}  # bad input: refused before any host change
        if switch is not None:
            env[entry.IN_PROCESS_ENV] = switch
        cfg = config.load(env)
        return entry.call(Request("before_device_create", ENGINE_XML, env), cfg)
    return request


def test_without_the_switch_an_unprivileged_caller_is_refused(unprivileged, tmp_path):
    for switch in (None, "0", "yes"):
        response = unprivileged(str(tmp_path / "no-agent.sock"), switch)
        assert response.exit_code == 2
        assert len(response.messages) == 1 and "start the agent" in response.messages[0]


def test_the_switch_runs_the_driver_in_process(unprivileged, tmp_path):
    response = unprivileged(str(tmp_path / "no-agent.sock"), "1")
    assert response.exit_code == 2
    assert len(response.messages) == 1 and "property mtu" in response.messages[0]
    assert "agent" not in response.messages[0]


def test_the_switch_never_asks_the_agent(unprivileged, tmp_path):
    path = str(tmp_path / "stale.sock")
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(path)  # a socket nobody answers on: the agent path would say "not answering"
        assert "not answering" in unprivileged(path).messages[0]
        response = unprivileged(path, "1")
    assert "property mtu" in response.messages[0] and "agent" not in response.messages[0]

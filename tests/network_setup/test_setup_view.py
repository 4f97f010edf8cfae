"""The parsed view drivers get (NetworkSetup) and the framework's state
files, on realistic requests and a running config on disk."""

import json
import os

from vif_driver.api import Underlay
from vif_driver.core import underlay_state
from vif_driver.core.config import HostConfig
from vif_driver.core.dispatch import handle
from vif_driver.core.network_setup import NetworkSetup, RunningConfig
from vif_driver.hook import netsetup
from vif_driver.hook.protocol import Request

from ns_helpers import REMOVE, ROLLBACK, bond, net, request, write_running


def _setup(netconf, networks=None, bondings=None, options=None):
    return NetworkSetup.from_text(json.dumps(request(networks, bondings, options)), netconf)


def test_lower_top_and_removed_devices_from_request_and_running_config(dirs):
    netconf, _state, _env = dirs
    write_running(netconf, {"vm-net": net(bonding="bond0", vlan=100, bridged=True),
                            "storage": net("eth4", vlan=30, ipaddr="203.0.113.4"),
                            "ovn-tunnel": net("eth1", ipaddr="192.0.2.11")},
                  {"bond0": bond("eth2", "eth3"), "bond9": bond("eth6", "eth7")})
    setup = _setup(netconf, {"vm-net": REMOVE, "storage": REMOVE,
                             "new": net("eth5", vlan=7, ipaddr="198.51.100.9", custom={"underlay": "tunnel"})},
                   {"bond9": REMOVE, "bond0": bond("eth2", "eth3", "eth8")})
    assert setup.removed_networks() == ["storage", "vm-net"] and setup.removed_bonds() == ["bond9"]
    assert setup.removed_devices() == ["bond9", "eth4.30", "vm-net"]
    assert setup.lower("vm-net", running=True) == ("bond0", 100) and setup.lower("vm-net") == (None, None)
    assert setup.top_device("ovn-tunnel") == "eth1" and setup.top_device("new") == "eth5.7"
    assert setup.address("new") == "198.51.100.9" and setup.address("ovn-tunnel") == "192.0.2.11"
    assert setup.slaves("bond0") == ["eth2", "eth3", "eth8"] and setup.slaves("bond0", running=True) == ["eth2", "eth3"]
    assert setup.networks_on("eth1") == ["ovn-tunnel"]
    assert setup.underlay_requests() == {"new": "tunnel"}
    assert not setup.in_rollback and _setup(netconf, options=ROLLBACK).in_rollback


def test_tokens_name_devices_bonds_slaves_and_their_networks(dirs):
    netconf, state, env = dirs
    write_running(netconf, {"mgmt": net(bonding="bond0", bridged=True), "other": net("eth9")},
                  {"bond0": bond("eth2", "eth3")})
    found = underlay_state.tokens([Underlay("bond0", "physnet", "physnet1", "x")], RunningConfig(netconf))
    assert found == {"bond0", "eth2", "eth3", "mgmt"}
    env["VIF_DRIVER_CONFIG"] = os.path.join(state, "absent.conf")
    underlay_state.write_tokens(env, [Underlay("bond0", "physnet", "physnet1", "x")])
    assert not netsetup.may_touch(b'{"request": {"networks": {"x": {"nic": "eth9"}}}}', env)
    assert netsetup.may_touch(b'{"request": {"networks": {"x": {"bonding": "bond0"}}}}', env)
    assert netsetup.may_touch(b'{"request": {"networks": {"x": {"custom": {"underlay": "tunnel"}}}}}', env)
    os.makedirs(os.path.join(netconf, "nets", "new"))  # VDSM's running config changed: stale
    assert netsetup.may_touch(b'{"request": {"networks": {"x": {"nic": "eth9"}}}}', env)


def test_the_agent_never_answers_network_setup(dirs):
    _netconf, state, env = dirs
    data = json.dumps(request({"n": net("eth1", custom={"underlay": "tunnel"})}))
    response = handle(Request("after_network_setup", data, env), HostConfig())
    assert response.exit_code == 0 and "hook process only" in response.messages[0]
    assert not os.path.exists(state)


def test_the_documented_engine_config_regex_matches_what_the_hook_accepts():
    import re

    import pytest

    from vif_driver.core.network_setup import parse_underlay
    doc = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                       "docs", "network-setup.md")
    text = open(doc, encoding="utf-8").read()
    pattern = re.search(r"UserDefinedNetworkCustomProperties='underlay=(\S+)'", text).group(1)
    for value in ("tunnel", "physnet:physnet1", "physnet:a.b-c_d", "physnet:" + "x" * 64):
        assert re.match(pattern, value) and parse_underlay(value)
    for value in ("tunel", "physnet:", "physnet:a b", "physnet:" + "x" * 65, "tunnel\n"):
        assert not re.fullmatch(pattern.strip("^$"), value)
        with pytest.raises(ValueError):
            parse_underlay(value)

"""Fixtures of the network-setup tests: the hook entrypoints installed, a
VDSM running config and vif-driver's state dir in temp directories, and
host state in network namespaces (a throw-away Open vSwitch for the ovs
driver, veths standing in for NICs for the linux_bridge driver)."""

import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "linux_bridge"))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "ovn"))


@pytest.fixture
def dirs(tmp_path):
    """(netconf dir, state dir) and the environment naming them."""
    netconf, state = tmp_path / "netconf", tmp_path / "state"
    netconf.mkdir()
    env = dict(os.environ)
    env.pop("VIF_DRIVER_CONFIG", None)
    env["VIF_DRIVER_NETCONF_DIR"] = str(netconf)
    env["VIF_DRIVER_STATE_DIR"] = str(state)
    return str(netconf), str(state), env


@pytest.fixture
def setup_env(dirs, test_driver_path, config_file):
    """configure(**options): the environment of a network-setup hook run
    whose one mapped driver is the test driver (tests/drivers), with these
    options in its [driver:test]."""
    _netconf, _state, env = dirs
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [test_driver_path, env.get("PYTHONPATH")]))

    def configure(**options) -> dict:
        lines = ["[vif-driver]", "timeout = 5", "[plugin_types]", "TEST_SDN = test", "OPEN_VSWITCH =",
                 "OVIRT_PROVIDER_OVN =", "LINUX_BRIDGE =", "[driver:test]"]
        lines += [f"{key} = {value}" for key, value in options.items()]
        env["VIF_DRIVER_CONFIG"] = config_file("\n".join(lines) + "\n")
        return env
    return configure

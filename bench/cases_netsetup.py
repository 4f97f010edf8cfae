"""Network-setup cases: before_network_setup on a request that touches no
underlay of the external networks (the common case: supervdsm holds every
network verb while it waits), and a rollback. Both must decide with os and
sys only, from the framework's token file: <= 1.15x a bare interpreter."""

import contextlib
import json
import os

from vif_driver.api import Underlay
from vif_driver.core import underlay_state
from vif_driver.tools import install

from hookbench import Case

LIMIT = 1.15


def _request(options=None) -> str:
    nets = {f"vm-net{i}": {"bonding": "bond0", "vlan": 100 + i, "bridged": True, "stp": False, "mtu": 9000,
                           "bootproto": "none", "switch": "legacy", "defaultRoute": False, "dhcpv6": False,
                           "ipv6autoconf": False, "nameservers": []} for i in range(20)}
    nets["old-net"] = {"remove": True}
    return json.dumps({"request": {
        "networks": nets,
        "bondings": {"bond0": {"nics": ["eth2", "eth3"], "options": "mode=4 miimon=100", "switch": "legacy"}},
        "options": options or {"connectivityCheck": "true", "connectivityTimeout": 120, "commitOnSuccess": True}}})


@contextlib.contextmanager
def cases(workdir, python):
    hook = install.install_hooks(workdir, python, hook_points=["before_network_setup"])[0]
    config = os.path.join(workdir, "vif-driver.conf")
    with open(config, "w") as f:
        f.write("[plugin_types]\nOPEN_VSWITCH = ovs\n")
    netconf = os.path.join(workdir, "netconf")
    os.makedirs(os.path.join(netconf, "nets"), exist_ok=True)
    os.makedirs(os.path.join(netconf, "bonds"), exist_ok=True)
    with open(os.path.join(netconf, "nets", "ovn-tunnel"), "w") as f:
        json.dump({"nic": "eth1", "bridged": False, "ipaddr": "192.0.2.11", "mtu": 1500}, f)
    env = dict(os.environ, VIF_DRIVER_CONFIG=config, VIF_DRIVER_NETCONF_DIR=netconf,
               VIF_DRIVER_STATE_DIR=os.path.join(workdir, "state"))
    underlay_state.write_tokens(env, [Underlay("eth1", "tunnel", "ovn-encap-ip", "tunnel endpoint 192.0.2.11",
                                               address="192.0.2.11", users=10)])
    unrelated, rollback = os.path.join(workdir, "unrelated.json"), os.path.join(workdir, "rollback.json")
    for path, text in ((unrelated, _request()), (rollback, _request({"_inRollback": True,
                                                                       "connectivityCheck": 0}))):
        with open(path, "w") as f:
            f.write(text)

    def unchanged(path, text):
        def check():
            with open(path) as f:
                assert f.read() == text, "the request was changed"
        return check

    yield [
        Case("network setup, no underlay touched (before_network_setup)", [hook],
             env=dict(env, _hook_json=unrelated), limit=LIMIT, check=unchanged(unrelated, _request())),
        Case("network setup rollback (before_network_setup)", [hook], env=dict(env, _hook_json=rollback),
             limit=LIMIT),
    ]

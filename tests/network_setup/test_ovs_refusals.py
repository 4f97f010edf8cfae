"""before_network_setup on an OVN host (a throw-away Open vSwitch with
ovn-encap-ip on a device of its namespace and a vNIC on br-int): every
request that would cut the tunnels off is refused with one line and the
file left untouched; rollbacks and unrelated requests pass."""

import json
import os
import subprocess
import sys

import pytest

from ns_helpers import REMOVE, ROLLBACK, bond, net, one_line, request, write_running

ENCAP = "192.0.2.11"
VNIC_IFACE = "6a9f5e2b-71a3-4c1e-9d1b-2f4e6a8c0b13"
RUNNING = {
    "ovirtmgmt": net("eth0", bridged=True, ipaddr="198.51.100.5"),
    "ovn-tunnel": net("eth1", ipaddr=ENCAP),
    "vm-net": net(bonding="bond0", vlan=100, bridged=True),
}


@pytest.fixture
def ovn_host(ovs, dirs, tmp_path):
    """The sandbox as an OVN chassis whose tunnel endpoint is eth1's
    address, one vNIC (MTU 1442) on br-int, VDSM's running config."""
    netconf, _state, env = dirs
    ns = ["ip", "netns", "exec", ovs.netns, "ip"]
    subprocess.run(ns + ["link", "add", "eth1", "type", "veth", "peer", "name", "eth1p"], check=True, timeout=10)
    subprocess.run(ns + ["addr", "add", ENCAP + "/24", "dev", "eth1"], check=True, timeout=10)
    subprocess.run(ns + ["link", "set", "eth1", "up"], check=True, timeout=10)
    subprocess.run(ns + ["link", "add", "vnet7", "mtu", "1442", "type", "veth", "peer", "name", "vnet7p"],
                   check=True, timeout=10)
    ovs.vsctl("add-port", "br-int", "vnet7", "--", "set", "Interface", "vnet7",
              f"external_ids:iface-id={VNIC_IFACE}")
    ovs.vsctl("set", "Open_vSwitch", ".", "external_ids:ovn-remote=tcp:127.0.0.1:6642",
              "external_ids:ovn-encap-type=geneve", f"external_ids:ovn-encap-ip={ENCAP}")
    write_running(netconf, RUNNING, {"bond0": bond("eth2", "eth3")})
    env["VIF_DRIVER_CONFIG"] = ovs.write_config(str(tmp_path / "vif-driver.conf"))
    return env


def _before(run_hook, env, data):
    run = run_hook("before_network_setup", data, env=env)
    return run


def _refused(run, *words):
    assert run.rc == 2, run.stderr
    assert run.aborted
    line = one_line(run)
    for word in words:
        assert word in line, line
    return line


@pytest.mark.parametrize("networks,bondings,words", [
    ({"ovn-tunnel": REMOVE}, {}, ["refusing to remove network 'ovn-tunnel'", "1 external vNIC",
                                  ENCAP, "underlay=tunnel"]),
    ({"ovn-tunnel": net("eth1", ipaddr="192.0.2.99")}, {}, ["change the address of network 'ovn-tunnel'",
                                                            f"{ENCAP} -> 192.0.2.99", "underlay=tunnel"]),
    ({"ovn-tunnel": net("eth1")}, {}, ["change the address", f"{ENCAP} -> none"]),
    ({"ovn-tunnel": net("eth2", ipaddr=ENCAP)}, {}, ["move network 'ovn-tunnel' from eth1 to eth2"]),
    ({"ovn-tunnel": net("eth1", ipaddr=ENCAP, mtu=1400)}, {}, ["refusing mtu 1400", "'ovn-tunnel'",
                                                               "needs 1500"]),
    ({}, {"bond1": bond("eth1", "eth4")}, ["refusing to put eth1 into bond 'bond1'"]),
])
def test_refused_with_one_line_file_untouched(run_hook, ovn_host, networks, bondings, words):
    data = json.dumps(request(networks, bondings))
    run = _before(run_hook, ovn_host, data)
    _refused(run, "vif-driver before_network_setup:", *words)
    assert run.text == data  # the file as VDSM wrote it


def test_rollback_is_never_refused(run_hook, ovn_host):
    data = json.dumps(request({"ovn-tunnel": REMOVE}, options=ROLLBACK))
    run = _before(run_hook, ovn_host, data)
    assert run.rc == 0 and run.stderr == "" and run.text == data


def test_removal_passes_when_another_network_takes_the_endpoint(run_hook, ovn_host):
    data = json.dumps(request({"ovn-tunnel": REMOVE,
                               "tun2": net("eth1", vlan=20, ipaddr="192.0.2.12", custom={"underlay": "tunnel"})}))
    run = _before(run_hook, ovn_host, data)
    assert run.rc == 0, run.stderr
    assert run.text == data


def test_two_tunnel_networks_refused(run_hook, ovn_host):
    data = json.dumps(request({"a": net("eth4", ipaddr="203.0.113.1", custom={"underlay": "tunnel"}),
                               "b": net("eth5", ipaddr="203.0.113.2", custom={"underlay": "tunnel"})}))
    _refused(_before(run_hook, ovn_host, data), "'a', 'b'", "one tunnel endpoint")


def test_bad_underlay_value_refused(run_hook, ovn_host):
    data = json.dumps(request({"x": net("eth4", custom={"underlay": "tunel"})}))
    _refused(_before(run_hook, ovn_host, data), "network 'x'", "underlay", "tunnel or physnet:NAME")


def test_unrelated_request_passes_on_the_cheap_path(run_hook, ovn_host, dirs):
    """An unrelated request passes untouched; once the token file is
    there the hook decides with os and sys only (no json, no drivers)."""
    _netconf, state, env = dirs
    data = json.dumps(request({"vm-net2": net(bonding="bond0", vlan=200, bridged=True, mtu=9000)},
                              {"bond0": bond("eth2", "eth3")}))
    first = _before(run_hook, ovn_host, data)  # no token file yet: the full check, which writes it
    assert first.rc == 0 and first.stderr == "" and first.text == data
    tokens = open(os.path.join(state, "underlay-tokens"), encoding="utf-8").read().split("\n")
    assert {"eth1", "ovn-tunnel"} <= set(tokens), tokens
    assert "bond0" not in tokens and "vm-net" not in tokens
    # the gate alone, in a fresh interpreter: no module beyond the thin ones
    path = os.path.join(str(state), "req.json")
    with open(path, "w", encoding="utf-8") as f:
        f.write(data)
    code = ("import sys; from vif_driver.hook.entry import main; rc = main('before_network_setup');"
            "heavy = sorted(m for m in sys.modules if m == 'json' or m.startswith(('vif_driver.core', "
            "'vif_driver.drivers', 'ovs', 'pyroute2')));"
            "print(rc, heavy)")
    proc = subprocess.run([sys.executable, "-c", code], env=dict(ovn_host, _hook_json=path),
                          capture_output=True, text=True, timeout=30, check=False)
    assert proc.stdout.strip() == "0 []", (proc.stdout, proc.stderr)
    # and a request naming the tunnel's network still gets the full check
    refused = _before(run_hook, ovn_host, json.dumps(request({"ovn-tunnel": REMOVE})))
    assert refused.rc == 2, refused.stderr


def test_failed_setup_undoes_nothing(run_hook, ovn_host, dirs):
    data = json.dumps(request({"ovn-tunnel": REMOVE}))
    run = run_hook("after_network_setup_fail", data, env=ovn_host)
    assert run.rc == 0
    assert "nothing to undo" in one_line(run)
    assert not os.path.exists(os.path.join(dirs[1], "underlays.json"))


def test_the_agent_keeps_the_token_file_fresh(ovn_host, dirs, tmp_path):
    """The agent writes the gate's token file at its start (and every
    TOKEN_REFRESH after), while the state directory exists: between
    network setups the hook keeps its cheap path."""
    import time
    _netconf, state, _env = dirs
    path = os.path.join(state, "underlay-tokens")
    os.makedirs(state, exist_ok=True)
    assert not os.path.exists(path)
    daemon = os.path.join(os.path.dirname(sys.executable), "vif-driverd")
    socket_path = str(tmp_path / "agent.sock")
    proc = subprocess.Popen([daemon, "--listen", socket_path, "--config", ovn_host["VIF_DRIVER_CONFIG"]],
                            env=ovn_host, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while not os.path.exists(path) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert os.path.exists(path), "the agent wrote no token file"
        with open(path, encoding="utf-8") as f:
            tokens = f.read().split("\n")
        assert tokens[0].startswith("v1 ") and {"eth1", "ovn-tunnel"} <= set(tokens), tokens
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out

"""Network setup on a Linux bridge host (a namespace whose veths stand in
for NICs, "bond0" among them): the bond under a physnet with the driver's
VLANs is kept, a VDSM VLAN clashing with one of them refused, and
underlay=physnet:NAME maps a physical network for the next plug."""

import json
import os

import pytest

from vif_driver.drivers.linux_bridge.naming import bridge_name

from lb_helpers import ENGINE_XML, ONLY_LB, VNIC_ID, attach_tap, lb_props, require_root, require_tool, uplink_kind
from ns_helpers import REMOVE, ROLLBACK, bond, net, one_line, request, write_running


@pytest.fixture
def lb_host(dirs, tmp_path):
    """The namespace, a physnet1 VLAN 100 network built by a plug with a
    vNIC's tap on its bridge, VDSM's running config with bond0."""
    require_root()
    require_tool("ip")
    from vif_driver.tools.sandbox.netns import Namespace
    netconf, state, env = dirs
    ns = Namespace()
    ns.create()
    try:
        for dev in ("bond0", "eth2", "eth5"):
            ns.veth(dev, dev + "p")
        config = tmp_path / "vif-driver.conf"
        config.write_text("\n".join(["[vif-driver]", "timeout = 5", ONLY_LB, "[driver:linux_bridge]",
                                     f"netns = {ns.name}", "physical_interface_mappings = physnet1:bond0",
                                     f"lock_dir = {tmp_path / 'locks'}", f"uplink_kind = {uplink_kind()}",
                                     "plug_timeout = 1"]) + "\n")
        env["VIF_DRIVER_CONFIG"] = str(config)
        write_running(netconf, {"ovirtmgmt": net(bonding="bond0", bridged=True, ipaddr="198.51.100.5")},
                      {"bond0": bond("eth3", "eth4")})
        yield ns, env
    finally:
        ns.delete()


def _plug(run_hook, env, physnet, vlan, vnic_id=VNIC_ID):
    run = run_hook("before_device_create", ENGINE_XML, env=env,
                   device_properties=lb_props(vnic_id, physical_network=physnet, segmentation_id=str(vlan)))
    assert run.rc == 0, run.stderr
    return run


@pytest.fixture
def with_vnic(run_hook, lb_host):
    ns, env = lb_host
    _plug(run_hook, env, "physnet1", 100)
    attach_tap(ns, VNIC_ID, bridge_name("physnet1", 100))
    return ns, env


def test_removing_the_physnet_bond_refused(run_hook, with_vnic):
    _ns, env = with_vnic
    data = json.dumps(request({"ovirtmgmt": REMOVE}, {"bond0": REMOVE}))
    run = run_hook("before_network_setup", data, env=env)
    assert run.rc == 2
    line = one_line(run)
    assert "refusing to remove bond 'bond0'" in line and "physnet1" in line and "1 external vNIC" in line, line
    assert "underlay=physnet:physnet1" in line
    assert run.text == data


def test_vlan_clash_refused(run_hook, with_vnic):
    _ns, env = with_vnic
    data = json.dumps(request({"vm100": net(bonding="bond0", vlan=100, bridged=True)}))
    run = run_hook("before_network_setup", data, env=env)
    assert run.rc == 2
    line = one_line(run)
    assert "refusing vlan 100 on bond0 for network 'vm100'" in line and "physnet1/100" in line, line
    other = run_hook("before_network_setup", json.dumps(request({"vm101": net(bonding="bond0", vlan=101)})),
                     env=env)
    assert other.rc == 0 and other.stderr == ""


def test_mtu_below_the_external_networks_refused(run_hook, with_vnic):
    _ns, env = with_vnic
    data = json.dumps(request({"ovirtmgmt": net(bonding="bond0", bridged=True, ipaddr="198.51.100.5", mtu=1400)}))
    run = run_hook("before_network_setup", data, env=env)
    assert run.rc == 2
    line = one_line(run)
    need = 1500 if uplink_kind() == "vlan" else 1450  # the VLAN device's MTU (the vxlan stand-in's: 1450)
    assert "refusing mtu 1400 on bond0 for network 'ovirtmgmt'" in line and f"needs {need}" in line, line
    ok = json.dumps(request({"ovirtmgmt": net(bonding="bond0", bridged=True, ipaddr="198.51.100.5", mtu=9000)}))
    assert run_hook("before_network_setup", ok, env=env).rc == 0


def test_rollback_passes(run_hook, with_vnic):
    _ns, env = with_vnic
    data = json.dumps(request({"vm100": net(bonding="bond0", vlan=100)}, {"bond0": REMOVE}, options=ROLLBACK))
    run = run_hook("before_network_setup", data, env=env)
    assert run.rc == 0 and run.stderr == ""


def test_no_managed_vlans_nothing_guarded(run_hook, lb_host):
    _ns, env = lb_host
    run = run_hook("before_network_setup", json.dumps(request({}, {"bond0": REMOVE})), env=env)
    assert run.rc == 0, run.stderr


def test_underlay_physnet_maps_the_next_plug(run_hook, lb_host, dirs):
    ns, env = lb_host
    state = dirs[1]
    data = request({"phys7": net("eth5", custom={"underlay": "physnet:physnet7"})})
    before = run_hook("before_network_setup", json.dumps(data), env=env)
    assert before.rc == 0, before.stderr
    refused = run_hook("before_device_create", ENGINE_XML, env=env,
                       device_properties=lb_props(physical_network="physnet7", segmentation_id="300"))
    assert refused.rc == 2 and "physnet7" in refused.stderr  # not mapped before the setup succeeded
    after = run_hook("after_network_setup", json.dumps(data), env=env)
    assert after.rc == 0, after.stderr
    recorded = json.load(open(os.path.join(state, "underlays.json"), encoding="utf-8"))
    assert recorded == {"physnets": {"physnet7": {"network": "phys7", "device": "eth5"}}}
    _plug(run_hook, env, "physnet7", 300)
    links = ns.links()
    uplink = next(name for name, link in links.items() if link.get("master") == bridge_name("physnet7", 300)
                  and link.get("linkinfo", {}).get("info_kind") == uplink_kind())
    assert links[uplink].get("link") == "eth5" or uplink.startswith("eth5"), links[uplink]
    # the network's removal drops the mapping (the plug's VLAN keeps eth5 guarded meanwhile)
    gone = request({"phys7": REMOVE})
    refused = run_hook("before_network_setup", json.dumps(gone), env=env)
    assert refused.rc == 0, refused.stderr  # phys7 holds no device of its own: eth5 stays
    assert run_hook("after_network_setup", json.dumps(gone), env=env).rc == 0
    assert json.load(open(os.path.join(state, "underlays.json"), encoding="utf-8")) == {}


def test_recorded_underlay_in_caps_and_doctor_flags_it_gone(run_hook, lb_host, hooks_root):
    """The switch-type path never runs before_network_setup: doctor is
    where a lost underlay shows."""
    import subprocess
    import sys
    ns, env = lb_host
    data = json.dumps(request({"phys7": net("eth5", custom={"underlay": "physnet:physnet7"})}))
    assert run_hook("after_network_setup", data, env=env).rc == 0
    caps = run_hook("after_get_caps", {"version": "4.50"}, env=env)
    assert caps.rc == 0, caps.stderr
    assert caps.json()["vif_driver"]["underlays"] == {"physnets": {"physnet7": {"network": "phys7",
                                                                               "device": "eth5"}}}
    doctor = [sys.executable, "-m", "vif_driver.tools.cli", "doctor", "--config", env["VIF_DRIVER_CONFIG"],
              "--hooks-dir", str(hooks_root)]
    ok = subprocess.run(doctor, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert "ok    underlays: physnet physnet7: network phys7 on eth5" in ok.stdout, ok.stdout + ok.stderr
    ns.delete_link("eth5")
    lost = subprocess.run(doctor, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert "FAIL  underlay physnet:physnet7: device eth5 of network phys7 is gone" in lost.stdout, lost.stdout
    assert "underlay=physnet:physnet7" in lost.stdout
    assert lost.returncode != 0

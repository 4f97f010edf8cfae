"""Bad input stops a plug with exit 2, one line naming the fix, and leaves
nothing half-created behind."""

import os
import shutil

import pytest

from vif_driver.tools import install

from lb_helpers import ENGINE_XML, VNIC_ID, lb_props, require_tool, state, uplink_kind


def _check_refused(run, host, before, *needles):
    assert run.rc == 2, run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert run.text == ENGINE_XML  # VDSM discards it anyway; we did not touch it
    assert state(host) == before


@pytest.mark.parametrize("props, needles", [
    ({"physical_network": "physnet9", "segmentation_id": "100"},
     ("'physnet9' is not mapped", "physical_interface_mappings")),
    ({"physical_network": "physnet1", "segmentation_id": "0"}, ("segmentation_id", "between 1 and 4094")),
    ({"physical_network": "physnet1", "segmentation_id": "4095"}, ("segmentation_id", "between 1 and 4094")),
    ({"physical_network": "physnet1", "vlan": "x"}, ("property vlan",)),
    ({"physical_network": "physnet1"}, ("set segmentation_id",)),
    ({"bridge": "br-much-too-long-name"}, ("property bridge", "15-character limit")),
    ({"bridge": "br/x"}, ("property bridge", "not an interface name")),
    ({"bridge": "br x"}, ("property bridge",)),
    ({"bridge": "br0", "physical_network": "physnet1", "segmentation_id": "5"}, ("set only one",)),
    ({"physical_network": "phys net"}, ("property physical_network",)),
    ({"mtu": "12"}, ("property mtu",)),
    ({}, ("no network given",)),
    ({"physical_network": "physnet1", "segmentation_id": "5", "netns": "other"}, ("host configuration only",)),
    ({"physical_network": "physnet1", "segmentation_id": "5", "physical_interface_mappings": "physnet1:lo"},
     ("host configuration only",)),
])
def test_bad_properties(run_hook, lb_config, host, props, needles):
    before = state(host)
    run = run_hook("before_device_create", ENGINE_XML, device_properties=lb_props(**props), config=lb_config())
    _check_refused(run, host, before, *needles)


@pytest.mark.parametrize("mappings, needle", [
    ("physnet1", "not PHYSNET:INTERFACE"),
    ("physnet1:eth1,physnet2:eth1", "mapped to both"),
    ("physnet1:this-name-is-too-long", "15-character limit"),
    ("physnet1:eth1,physnet1:eth2", "mapped twice"),
])
def test_bad_mappings(run_hook, config_file, host, tmp_path, mappings, needle):
    config = config_file(f"[driver:linux_bridge]\nnetns = {host.name}\nlock_dir = {tmp_path}\n"
                         f"physical_interface_mappings = {mappings}\n")
    before = state(host)
    run = run_hook("before_device_create", ENGINE_XML,
                   device_properties=lb_props(physical_network="physnet1", segmentation_id="7"), config=config)
    _check_refused(run, host, before, "physical_interface_mappings", needle)


def test_missing_host_interface(run_hook, lb_config, host):
    host.delete_link("eth2")
    before = state(host)
    run = run_hook("before_device_create", ENGINE_XML,
                   device_properties=lb_props(physical_network="physnet2", segmentation_id="7"), config=lb_config())
    _check_refused(run, host, before, "host interface eth2 of physical network physnet2 does not exist",
                   "physical_interface_mappings")


def test_vlan_device_name_taken_by_something_else(run_hook, lb_config, host):
    host.veth("eth1.7", "other7")
    before = state(host)
    run = run_hook("before_device_create", ENGINE_XML,
                   device_properties=lb_props(physical_network="physnet1", segmentation_id="7"), config=lb_config())
    _check_refused(run, host, before, "eth1.7 exists but is not")


def test_failed_vlan_device_rolls_the_bridge_back(run_hook, lb_config, host):
    """The bridge is created first; the VLAN device then fails (an MTU over
    the host interface's; for the vxlan stand-in, a VNI already in use):
    the bridge must go again."""
    if uplink_kind() == "vxlan":
        host.ip("link", "add", "other7", "type", "vxlan", "id", "7", "dev", "eth2", "dstport", "4789")
    before = state(host)
    run = run_hook("before_device_create", ENGINE_XML,
                   device_properties=lb_props(physical_network="physnet1", segmentation_id="7", mtu="9000"),
                   config=lb_config())
    _check_refused(run, host, before, "eth1.7")


def test_missing_namespace(run_hook, lb_config, host, config_file, tmp_path):
    config = config_file(f"[driver:linux_bridge]\nnetns = no-such-ns-here\nlock_dir = {tmp_path}\n"
                         "physical_interface_mappings = physnet1:eth1\n")
    run = run_hook("before_device_create", ENGINE_XML,
                   device_properties=lb_props(physical_network="physnet1", segmentation_id="7"), config=config)
    _check_refused(run, host, state(host), "network namespace 'no-such-ns-here' does not exist")


def test_eperm_from_netlink(tmp_path, lb_config, host):
    """The hook without CAP_NET_ADMIN (as the unprivileged vdsm user would
    run it): netlink answers EPERM, the hook says what it needs."""
    require_tool("setpriv")
    real = tmp_path / "real"
    script = install.install_hooks(str(real), __import__("sys").executable, hooks_dir="",
                                   hook_points=["before_device_create"])[0]
    wrapped = tmp_path / "wrapped" / "before_device_create"
    wrapped.mkdir(parents=True)
    wrapper = wrapped / "50_vif_driver"
    wrapper.write_text(f"#!/bin/sh\nexec {shutil.which('setpriv')} --inh-caps=-net_admin "
                       f"--bounding-set=-net_admin -- {script}\n")
    os.chmod(wrapper, 0o755)
    from vif_driver.tools import runner
    env = dict(os.environ, VIF_DRIVER_CONFIG=lb_config())
    before = state(host)
    run = runner.run_hooks(str(tmp_path / "wrapped"), "before_device_create", ENGINE_XML,
                           device_properties=lb_props(VNIC_ID, physical_network="physnet1", segmentation_id="7"),
                           base_env=env, timeout=60)
    _check_refused(run, host, before, "operation not permitted", "CAP_NET_ADMIN")

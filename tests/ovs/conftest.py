"""Fixtures for the ovs driver: a throw-away Open vSwitch (ovsdb-server and
ovs-vswitchd with the netdev datapath, in a temp dir and a network
namespace of its own) per test, a host config pointing the driver at it,
and libvirt's part of plugging a NIC (vif_driver.tools.sandbox.ovs)."""

import pytest

from ovs_helpers import MAC, VM_ID, VNIC_ID, tap


@pytest.fixture
def plug(ovs):
    """Libvirt's part of starting a vNIC: the tap on br-int with external_ids."""
    def do(vnic_id=VNIC_ID, vm_id=VM_ID, bridge="br-int", **kwargs):
        ovs.plug_tap(tap(vnic_id), iface_id=vnic_id, mac=MAC, vm_id=vm_id, bridge=bridge, **kwargs)
        return tap(vnic_id)
    return do


@pytest.fixture
def ovs_config(ovs, config_file):
    """A host config pointing the ovs driver at the sandbox; short timeouts;
    only the ovs driver mapped, so caps and stats are its alone."""
    def write(timeout=2, plug_timeout=1, extra="") -> str:
        return config_file(f"""
            [vif-driver]
            timeout = {timeout}
            [plugin_types]
            LINUX_BRIDGE =
            [driver:ovs]
            ovsdb = {ovs.remote}
            plug_timeout = {plug_timeout}
            netns = {ovs.netns}
            {extra}
        """)
    return write


@pytest.fixture
def down_config(tmp_path, config_file):
    """A config whose OVSDB socket does not exist (Open vSwitch stopped)."""
    return config_file(f"""
        [vif-driver]
        timeout = 2
        [plugin_types]
        LINUX_BRIDGE =
        [driver:ovs]
        ovsdb = unix:{tmp_path}/no-such-db.sock
        plug_timeout = 1
    """)

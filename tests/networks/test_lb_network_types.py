"""The Linux bridge driver keeps one bridge per VLAN: what it cannot
isolate from other networks it refuses, rather than share a bridge."""

import pytest

from vif_driver.tools.sandbox.hosts import engine_interface

from net_helpers import network
from support import external_props


@pytest.mark.parametrize("ntype", ["local", "flat"])
def test_linux_bridge_refuses_networks_it_cannot_isolate(run_hook, config_file, neutron, provider, tmp_path,
                                                          ntype):
    net = network(neutron, f"lb-{ntype}", ntype, physnet="physnet1" if ntype == "flat" else None)
    port = neutron.create_port({"port": {"network_id": net["id"]}})["port"]
    config = config_file(f"""
        [plugin_types]
        OPEN_VSWITCH =
        OVIRT_PROVIDER_OVN =
        [driver:linux_bridge]
        bridge = br-shared
        lock_dir = {tmp_path}/locks
        provider_url = {provider.url}
    """)
    engine = engine_interface(port["mac_address"]).encode()
    run = run_hook("before_device_create", engine, config=config,
                   device_properties=external_props("LINUX_BRIDGE", vnic_id=port["id"]))
    assert run.rc == 2 and run.data == engine
    assert run.stderr.count("\n") == 1 and f"network type {ntype}" in run.stderr and "linux_bridge" in run.stderr
    assert not (tmp_path / "locks").exists() or not any((tmp_path / "locks").iterdir())

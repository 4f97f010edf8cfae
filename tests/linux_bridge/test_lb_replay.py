"""The bundled lifecycle replays as documented, against a namespaced host,
and every XML the driver writes is one libvirt accepts."""

import os

from vif_driver.drivers.linux_bridge.naming import bridge_name
from vif_driver.tools.fixture import Fixture, expand
from vif_driver.tools.replay import replay

from lb_helpers import LIFECYCLE, XML_DIR, lb_props, state

BRIDGE = bridge_name("physnet1", 100)
BASE = {"lo", "eth1", "eth1p", "eth2", "eth2p"}


def test_lifecycle_replays_with_expected_exit_codes(lb_config, host, libvirt_define):
    config = lb_config()
    paths = expand([LIFECYCLE])
    assert len(paths) == 7
    for path in paths:
        fixture = Fixture.load(path)
        result = replay(fixture, config=config, env=dict(os.environ))
        assert result.ok, result.report()
        if fixture.hook_point in ("before_device_create", "before_update_device"):
            assert f'<source bridge="{BRIDGE}"/>' in result.run.text
            libvirt_define(result.run.text)
            assert host.links()["eth1.100"]["master"] == BRIDGE
        if fixture.hook_point == "after_get_caps":
            assert BRIDGE in result.run.json()["vif_driver"]["drivers"]["linux_bridge"]["bridges"]
    assert set(state(host)) == BASE


def test_hotplug_xml_is_accepted_by_libvirt(run_hook, lb_config, host, libvirt_define):
    with open(os.path.join(XML_DIR, "hotplug-nic.xml"), encoding="utf-8") as f:
        xml = f.read()
    run = run_hook("before_nic_hotplug", xml, config=lb_config(),
                   device_properties=lb_props(physical_network="physnet2", segmentation_id="4094", mtu="1500"))
    assert run.rc == 0, run.stderr
    dumped = libvirt_define(run.text)
    assert f"bridge='{bridge_name('physnet2', 4094)}'" in dumped and "queues='4'" in dumped

"""Traffic through what the driver built, and the counters the stats hook
reports for it. Guests are namespaces whose veth's host end carries the
tap's name, attached to the bridge the way libvirt attaches a tap."""

import json
import os

import pytest

from vif_driver.drivers.linux_bridge.naming import bridge_name
from vif_driver.tools.sandbox.netns import Namespace

from lb_helpers import ENGINE_XML, FIXTURES, ONLY_LB, OTHER_VNIC, VNIC_ID, lb_props, require_tool, tap_of, uplink_kind

NET = {"physical_network": "physnet1", "segmentation_id": "100"}
BRIDGE = bridge_name("physnet1", 100)


@pytest.fixture
def guests():
    made = []

    def make(host, vnic, address, bridge=BRIDGE):
        guest = Namespace().create()
        made.append(guest)
        host.veth(tap_of(vnic), "eth0", guest)
        host.ip("link", "set", tap_of(vnic), "master", bridge)
        guest.address("eth0", address)
        return guest
    yield make
    for guest in made:
        guest.delete()


def _stats(run_hook, config):
    with open(os.path.join(FIXTURES, "json", "stats.json"), encoding="utf-8") as f:
        data = json.load(f)
    run = run_hook("after_get_stats", data, config=config)
    assert run.rc == 0, run.stderr
    return run.json()


def test_two_guests_ping_through_the_driver_bridge_and_stats_grow(run_hook, lb_config, host, guests):
    require_tool("ping")
    config = lb_config()
    for vnic in (VNIC_ID, OTHER_VNIC):
        run = run_hook("before_device_create", ENGINE_XML, device_properties=lb_props(vnic, **NET), config=config)
        assert run.rc == 0, run.stderr
    g1 = guests(host, VNIC_ID, "10.77.0.1/24")
    guests(host, OTHER_VNIC, "10.77.0.2/24")
    for vnic in (VNIC_ID, OTHER_VNIC):
        run = run_hook("after_device_create", "", device_properties=lb_props(vnic, **NET), config=config)
        assert run.rc == 0, run.stderr

    first = _stats(run_hook, config)
    network = first["network"]
    assert {"eth0", "ovirtmgmt"} <= set(network)  # VDSM's own entries are kept
    tap1, tap2 = tap_of(VNIC_ID), tap_of(OTHER_VNIC)
    assert {tap1, tap2} <= set(network) and "eth1.100" not in network
    entry = network[tap1]
    assert set(entry) == {"name", "speed", "duplex", "state", "rx", "tx", "rxErrors", "txErrors", "rxDropped",
                          "txDropped", "sampleTime"}
    assert entry["name"] == tap1 and entry["state"] == "up"
    assert all(isinstance(entry[k], str) and entry[k].isdigit() for k in ("rx", "tx", "rxDropped", "speed"))

    assert g1.ping("10.77.0.2", count=5)
    second = _stats(run_hook, config)["network"]
    for tap in (tap1, tap2):
        assert int(second[tap]["rx"]) > int(network[tap]["rx"])
        assert int(second[tap]["tx"]) > int(network[tap]["tx"])
        assert second[tap]["sampleTime"] >= network[tap]["sampleTime"]


def test_caps_report_mappings_and_managed_bridges(run_hook, lb_config, host):
    config = lb_config()
    assert run_hook("before_device_create", ENGINE_XML, device_properties=lb_props(**NET), config=config).rc == 0
    host.tap(tap_of(VNIC_ID), master=BRIDGE)
    host.bridge("br-admin")
    run = run_hook("after_get_caps", {"version_name": "Snow Man"}, config=config)
    assert run.rc == 0, run.stderr
    caps = run.json()
    assert caps["version_name"] == "Snow Man"
    section = caps["vif_driver"]["drivers"]["linux_bridge"]
    assert section["physical_interface_mappings"] == {"physnet1": "eth1", "physnet2": "eth2"}
    assert section["bridges"] == {BRIDGE: {"managed": True, "ports": 1, "physical_network": "physnet1",
                                           "segmentation_id": 100, "uplink": "eth1.100"}}
    assert caps["openstack_binding_host_ids"]["LINUX_BRIDGE"]


def test_stats_and_caps_degrade_quietly(run_hook, config_file, tmp_path):
    config = config_file(f"{ONLY_LB}\n[driver:linux_bridge]\nnetns = gone-namespace\nlock_dir = {tmp_path}\n")
    run = run_hook("after_get_stats", {"network": {}}, config=config)
    assert run.rc == 0 and run.json() == {"network": {}}
    assert run.stderr.count("\n") == 1 and "vNIC stats not reported" in run.stderr  # one line for vdsm.log
    run = run_hook("after_get_caps", {}, config=config)
    assert run.rc == 0 and run.json() == {}
    assert run.stderr.count("\n") == 1 and "caps not reported" in run.stderr


def test_guests_on_two_hosts_talk_over_the_vlan_trunk(run_hook, config_file, tmp_path, guests):
    """Two namespaced hosts joined by a veth "trunk"; each driver builds
    VLAN 100 on it; guests on either side ping; VLAN 200 stays apart.

    A kernel built without 802.1Q (CONFIG_VLAN_8021Q; a build option no
    install step can add) gets what a production host without 8021q gets:
    the plug refused with the fix, and nothing half-built left behind."""
    if uplink_kind() != "vlan":
        _vlan_plug_refused_without_8021q(run_hook, config_file, tmp_path)
        return
    require_tool("ping")
    with Namespace() as host_a, Namespace() as host_b:
        host_a.veth("trunk0", "trunk0", host_b)
        configs = {}
        for ns in (host_a, host_b):
            configs[ns.name] = config_file(
                f"{ONLY_LB}\n[driver:linux_bridge]\nnetns = {ns.name}\nphysical_interface_mappings = physnet1:trunk0\n"
                f"lock_dir = {tmp_path / ns.name}\n", name=f"{ns.name}.conf")
        plan = [(host_a, VNIC_ID, "10.88.0.1/24", 100), (host_b, OTHER_VNIC, "10.88.0.2/24", 100),
                (host_b, "7c1d2e3f-0000-4000-8000-000000000003", "10.88.0.3/24", 200)]
        made = []
        for ns, vnic, address, vlan in plan:
            props = lb_props(vnic, physical_network="physnet1", segmentation_id=str(vlan))
            run = run_hook("before_device_create", ENGINE_XML, device_properties=props, config=configs[ns.name])
            assert run.rc == 0, run.stderr
            made.append(guests(ns, vnic, address, bridge_name("physnet1", vlan)))
        assert made[0].ping("10.88.0.2", count=3)
        assert not made[0].ping("10.88.0.3", count=2)


def _vlan_plug_refused_without_8021q(run_hook, config_file, tmp_path):
    with Namespace() as host:
        host.veth("trunk0", "trunk0p")
        before = set(host.links())
        config = config_file(f"{ONLY_LB}\n[driver:linux_bridge]\nnetns = {host.name}\n"
                             f"physical_interface_mappings = physnet1:trunk0\nlock_dir = {tmp_path / 'locks'}\n",
                             name="no-8021q.conf")  # uplink_kind: the production default, vlan
        props = lb_props(physical_network="physnet1", segmentation_id="100")
        run = run_hook("before_device_create", ENGINE_XML, device_properties=props, config=config)
        assert run.rc == 2 and run.aborted and run.text == ENGINE_XML
        assert run.stderr.count("\n") == 1
        assert "cannot create vlan trunk0.100 (operation not supported)" in run.stderr and "8021q" in run.stderr
        assert set(host.links()) == before  # the bridge made first was rolled back


def test_docs_caps_example_is_what_the_code_reports(run_hook, config_file, host, tmp_path):
    path = os.path.join(os.path.dirname(os.path.dirname(FIXTURES)), "docs", "linux-bridge-driver.md")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    block = text[text.index("Caps, for a host"):].split("```json\n", 1)[1].split("```", 1)[0]
    example = json.loads("{" + block.replace("<host name>", os.uname().nodename) + "}")
    config = config_file(f"{ONLY_LB}\n[driver:linux_bridge]\nnetns = {host.name}\nlock_dir = {tmp_path}\n"
                         f"physical_interface_mappings = physnet1:eth1\nuplink_kind = {uplink_kind()}\n")
    assert run_hook("before_device_create", ENGINE_XML, device_properties=lb_props(**NET), config=config).rc == 0
    host.tap(tap_of(VNIC_ID), master=BRIDGE)
    caps = run_hook("after_get_caps", {}, config=config).json()
    caps["vif_driver"]["version"] = "0.1.0"
    assert caps == example

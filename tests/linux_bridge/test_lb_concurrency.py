"""Hooks of different VMs run at the same time: plugs and unplugs of one
network serialize on its lock, and a starting VM's claim keeps the bridge."""

import os
import uuid
from concurrent.futures import ThreadPoolExecutor

from vif_driver.drivers.linux_bridge.naming import bridge_name

from lb_helpers import ENGINE_XML, OTHER_VNIC, VNIC_ID, attach_tap, lb_props, state, tap_of

NETS = {
    "a": {"physical_network": "physnet1", "segmentation_id": "100"},
    "b": {"physical_network": "physnet2", "segmentation_id": "200"},
}
BRIDGES = {"a": bridge_name("physnet1", 100), "b": bridge_name("physnet2", 200)}
UPLINKS = {"a": "eth1.100", "b": "eth2.200"}
BASE = {"lo", "eth1", "eth1p", "eth2", "eth2p"}


def _vnic(i: int) -> str:
    return str(uuid.UUID(int=(0x5EED0000 + i) << 96))


def _start(run_hook, config, host, vnic, net):
    """A VM start: plug, libvirt attaches the tap, post-plug check."""
    run = run_hook("before_device_create", ENGINE_XML, device_properties=lb_props(vnic, **NETS[net]),
                   config=config)
    assert run.rc == 0, run.stderr
    attach_tap(host, vnic, BRIDGES[net])
    run = run_hook("after_device_create", "", device_properties=lb_props(vnic, **NETS[net]), config=config)
    assert run.rc == 0, run.stderr
    return vnic


def _stop(run_hook, config, host, vnic, net):
    """A VM stop: libvirt removes the tap, then the destroy hooks."""
    host.delete_link(tap_of(vnic))
    for hook in ("before_device_destroy", "after_device_destroy"):
        run = run_hook(hook, "", device_properties=lb_props(vnic, **NETS[net]), config=config)
        assert run.rc == 0, (hook, run.stderr)
    return vnic


def _parallel(jobs):
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        futures = [pool.submit(*job) for job in jobs]
        return [f.result() for f in futures]


def _ports(host):
    links = host.links()
    return {net: sorted(name for name, link in links.items() if link.get("master") == BRIDGES[net])
            for net in NETS}


def test_two_first_plugs_at_once_make_one_bridge(run_hook, lb_config, host):
    config = lb_config(timeout=20)
    def plug(vnic):
        return run_hook("before_device_create", ENGINE_XML, device_properties=lb_props(vnic, **NETS["a"]),
                        config=config)
    runs = _parallel([(plug, vnic) for vnic in (VNIC_ID, OTHER_VNIC)])
    assert [r.rc for r in runs] == [0, 0], [r.stderr for r in runs]
    links = host.links()
    assert set(links) == BASE | {BRIDGES["a"], UPLINKS["a"]}
    assert links[UPLINKS["a"]]["master"] == BRIDGES["a"]


def test_two_last_unplugs_at_once_leave_nothing(run_hook, lb_config, host):
    config = lb_config(timeout=20)
    for vnic in (VNIC_ID, OTHER_VNIC):
        _start(run_hook, config, host, vnic, "a")
    _parallel([(_stop, run_hook, config, host, vnic, "a") for vnic in (VNIC_ID, OTHER_VNIC)])
    assert set(host.links()) == BASE


def test_twenty_parallel_plugs_and_unplugs_over_two_networks(run_hook, lb_config, host):
    config = lb_config(timeout=30)
    nets = ["a", "b"] * 5
    old = [_vnic(i) for i in range(10)]
    new = [_vnic(100 + i) for i in range(10)]
    _parallel([(_start, run_hook, config, host, vnic, net) for vnic, net in zip(old, nets)])
    assert _ports(host) == {net: sorted([tap_of(v) for v, n in zip(old, nets) if n == net] + [UPLINKS[net]])
                            for net in NETS}
    # 10 VMs stop while 10 others start, on the same two networks
    jobs = [(_start, run_hook, config, host, vnic, net) for vnic, net in zip(new, nets)]
    jobs += [(_stop, run_hook, config, host, vnic, net) for vnic, net in zip(old, nets)]
    _parallel(jobs)
    expected = {net: sorted([tap_of(v) for v, n in zip(new, nets) if n == net] + [UPLINKS[net]]) for net in NETS}
    assert _ports(host) == expected
    links = state(host)
    assert set(links) == BASE | set(BRIDGES.values()) | set(UPLINKS.values()) | {tap_of(v) for v in new}
    # and all of them stop at once: nothing of the driver's remains
    _parallel([(_stop, run_hook, config, host, vnic, net) for vnic, net in zip(new, nets)])
    assert set(host.links()) == BASE
    assert not [name for name in os.listdir(os.path.join(os.path.dirname(config), "locks")) if ".claim." in name]

"""The driver's netlink stack (pyroute2 on a worker thread per job or, in
the agent, per namespace): every job bounded by the timeout, one-line
errors naming the device, the resident snapshot for caps and stats."""

import threading
import time

import pytest

from vif_driver.api import HostError
from vif_driver.core import netlink
from vif_driver.drivers.linux_bridge import host as lb_host
from vif_driver.drivers.linux_bridge import naming, stats, view
from vif_driver.drivers.linux_bridge.naming import bridge_name

from lb_helpers import lb_props, uplink_kind

BRIDGE = bridge_name("physnet1", 100)
NET = {"physical_network": "physnet1", "segmentation_id": "100"}


@pytest.fixture
def resident():
    """The driver as the agent runs it: channels and snapshots kept."""
    netlink.keep_open()
    try:
        yield
    finally:
        view.close_all()
        netlink.close_all()


def test_a_hung_netlink_job_fails_within_the_timeout():
    """pyroute2's calls have no timeout of their own: a job that never
    returns (the rtnl lock held for ever) fails the hook in one line."""
    release = threading.Event()
    start = time.monotonic()
    with pytest.raises(HostError) as raised:
        netlink.run(lambda session: release.wait(30), namespace=None, timeout=0.3, action="prepare bridge br-x")
    took = time.monotonic() - start
    release.set()
    assert 0.3 <= took < 2, took
    assert str(raised.value) == ("netlink did not answer within 0.3 s while trying to prepare bridge br-x; "
                                 "check the host's load (RTNL lock) or raise timeout in [vif-driver]")


def test_a_resident_channel_that_hung_is_replaced(resident, host):
    release = threading.Event()
    with pytest.raises(HostError, match="did not answer within 0.2 s"):
        netlink.run(lambda session: release.wait(30), namespace=host.name, timeout=0.2, action="check")
    release.set()
    # the next job gets a new channel (and socket) and works
    found = netlink.run(lambda nl: nl.get("eth1"), namespace=host.name, timeout=5, action="check eth1")
    assert found is not None and found.name == "eth1" and found.kind == "veth"


def test_reads_and_missing_devices(host):
    def read(nl):
        return nl.get("eth1"), nl.get("no-such-dev"), {link.name for link in nl.links()}
    eth1, missing, names = netlink.run(read, namespace=host.name, timeout=5, action="read")
    assert eth1.up and eth1.mtu == 1500 and missing is None
    assert {"lo", "eth1", "eth1p", "eth2", "eth2p"} <= names
    with pytest.raises(HostError) as raised:
        netlink.run(lambda nl: nl.set("no-such-dev", "bring no-such-dev up", state="up"), namespace=host.name,
                    timeout=5, action="prepare bridge br-x")
    assert str(raised.value) == "cannot find no-such-dev while trying to prepare bridge br-x: no such device"


def test_a_missing_namespace_is_one_line():
    with pytest.raises(HostError) as raised:
        netlink.run(lambda nl: nl.get("eth1"), namespace="no-such-ns-here", timeout=5, action="read")
    assert "network namespace 'no-such-ns-here' does not exist" in str(raised.value)
    assert "\n" not in str(raised.value)


def _plug(run_hook, config, host, n_taps):
    plug = run_hook("before_device_create", "<interface type='bridge'/>", device_properties=lb_props(**NET),
                    config=config)
    assert plug.rc == 0, plug.stderr
    lines = []
    for i in range(n_taps):
        lines += [f"tuntap add dev tapmany{i:04d} mode tap", f"link set tapmany{i:04d} master {BRIDGE} up"]
    host.exec(["ip", "-batch", "-"], input=("\n".join(lines) + "\n").encode(), timeout=120)


def test_stats_of_many_taps_in_one_snapshot(run_hook, lb_config, host):
    """300 taps on a managed bridge: each reported once, in VDSM's shape;
    VDSM's own entry of a tap stands as it is; the VLAN device is not
    reported."""
    config = lb_config()
    _plug(run_hook, config, host, 300)
    data = {"network": {"tapmany0000": {"name": "tapmany0000", "duplex": "unknown", "rx": "1"}}}
    run = run_hook("after_get_stats", data, config=config)
    assert run.rc == 0, run.stderr
    network = run.json()["network"]
    ours = {name: entry for name, entry in network.items() if name.startswith("tapmany")}
    assert len(ours) == 300 and "eth1.100" not in network
    entry = network["tapmany0001"]
    assert set(entry) == {"name", "speed", "duplex", "state", "rx", "tx", "rxErrors", "txErrors", "rxDropped",
                          "txDropped", "sampleTime"}
    assert entry["state"] == "down" and entry["rx"] == "0"  # a tap without a reader has no carrier
    assert network["tapmany0000"] == data["network"]["tapmany0000"]
    assert abs(entry["sampleTime"] - time.time()) < 60


def test_resident_snapshot_is_reused_then_retaken_after_the_drivers_own_change(resident, lb_config, host,
                                                                               run_hook, tmp_path):
    _plug(run_hook, lb_config(), host, 3)
    first = view.snapshot(host.name, 5)
    assert view.snapshot(host.name, 5) is first  # fresh: served as it is
    result: dict = {}
    assert stats.collect_stats(result, namespace=host.name, timeout=5, configured=None) == 3
    assert sorted(result["network"]) == ["tapmany0000", "tapmany0001", "tapmany0002"]
    assert {e["sampleTime"] for e in result["network"].values()} == {first.taken}  # when it was read
    target = naming.Target(BRIDGE, "physnet1", 100, "eth1", None, uplink_kind())
    network = lb_host.Network(target, namespace=host.name, lock_dir=str(tmp_path / "locks"), timeout=5,
                              record=lambda *a, **k: None)
    network.ensure()  # nothing to do: no write, the snapshot stands
    assert view.snapshot(host.name, 5) is first
    network._write(lambda session: session.set("tapmany0000", "detach tapmany0000", master=0),
                   "detach tapmany0000")
    again = view.snapshot(host.name, 5)
    assert again is not first
    after: dict = {}
    stats.collect_stats(after, namespace=host.name, timeout=5, configured=None)
    assert "tapmany0000" not in after["network"]


def test_caps_through_the_resident_snapshot(resident, lb_config, host, run_hook):
    _plug(run_hook, lb_config(), host, 2)
    section: dict = {}
    caps = stats.collect_caps({}, section, namespace=host.name, timeout=5, configured=None,
                              mappings={"physnet1": "eth1", "physnet9": "eth9"}, plugin_types=("LINUX_BRIDGE",))
    assert caps is not None and caps["openstack_binding_host_ids"]["LINUX_BRIDGE"]
    assert section["bridges"][BRIDGE]["ports"] == 2 and section["bridges"][BRIDGE]["uplink"] == "eth1.100"


def test_resident_plug_rechecks_by_index_and_rebuilds_what_others_removed(resident, host, tmp_path):
    """In the agent a network found whole is re-checked by its devices'
    indexes; a bridge deleted behind the driver's back is seen at once and
    rebuilt; the driver's own cleanup still removes the network."""
    target = naming.Target(BRIDGE, "physnet1", 100, "eth1", None, uplink_kind())
    records: list = []

    def network():
        return lb_host.Network(target, namespace=host.name, lock_dir=str(tmp_path / "locks"), timeout=5,
                               record=lambda text, write=False: records.append(text))
    with network() as net:
        net.ensure()  # builds it
    records.clear()
    for _ in range(2):
        with network() as net:
            net.ensure()
    assert records == [f"checked {target.describe()}: present and up",  # the whole check
                       f"checked {target.describe()}: present and up (unchanged since the last whole check)"]
    host.delete_link(BRIDGE)  # an administrator's doing
    records.clear()
    with network() as net:
        net.ensure()
    assert any(r.startswith(f"create bridge {BRIDGE}") for r in records), records
    assert host.links()["eth1.100"]["master"] == BRIDGE
    with network() as net:
        net.ensure()  # whole check: complete again
        net.cleanup(None)
    assert BRIDGE not in host.links() and "eth1.100" not in host.links()

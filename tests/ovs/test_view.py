"""The agent's resident OVSDB view (drivers/ovs/view.py: an ovsdbapp
connection kept current by its thread) against a real ovsdb-server: it
follows changes, answers the post-plug check from memory, stops being
served while ovsdb-server is hung, and survives a restart. And the hook
process's own client: a hung or absent server is one line, within the bound."""

import shutil
import subprocess
import time

import pytest

from vif_driver.api import NotReady
from vif_driver.drivers.ovs import ovsdb
from vif_driver.drivers.ovs import view as resident

from ovs_helpers import MAC, VM_ID, VNIC_ID, tap

pytestmark = pytest.mark.root


def _until(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def _db(v):
    client = v.client(0)
    return None if client is None else ovsdb.OvsDb(v.remote, v.timeout, client=client)


def _names(v):
    db = _db(v)
    return None if db is None else {r["name"]: r["link_state"] for r in db.interfaces()}


@pytest.fixture
def view(ovs):
    v = resident.View(ovs.remote, timeout=1).start()
    yield v
    v.close()


def test_view_follows_plugs_and_confirms_from_memory(ovs, view):
    assert view.client(5) is not None  # the first request waits for the initial contents
    assert "br-int" in _until(lambda: _names(view))  # the bridge's internal interface
    with pytest.raises(NotReady, match="libvirt has not added the port"):
        _db(view).wait_port(tap(), "br-int", VNIC_ID, 0.3)
    ovs.plug_tap(tap(), iface_id=VNIC_ID, mac=MAC, vm_id=VM_ID)
    assert _db(view).wait_port(tap(), "br-int", VNIC_ID, 10) is None
    assert tap() in _names(view)
    with pytest.raises(NotReady, match="bridge br-other does not exist"):
        _db(view).wait_port(tap(), "br-other", VNIC_ID, 0.2)
    assert _db(view).remove_vnic_ports(VNIC_ID, tap(), VM_ID) == [f"port {tap()} from bridge br-int"]
    _until(lambda: tap() not in _names(view))
    assert ovs.ports() == []


def test_hung_server_is_never_served_and_the_view_comes_back(ovs, view):
    _until(lambda: _names(view))
    client = view.client(0)
    ovs.pause_db()
    try:
        # the idle connection is probed: dropped within twice the probe interval
        _until(lambda: view.client(0) is None, timeout=2 * ovsdb.PROBE_MS / 1000 + 1)
        db = ovsdb.OvsDb(view.remote, 1, client=client)
        started = time.monotonic()
        left = db.wait_port(tap(), "br-int", VNIC_ID, 5)
        assert 4 < left <= 5 and time.monotonic() - started < 1  # the caller checks on its own
        started = time.monotonic()
        with pytest.raises(ovsdb.OvsdbTimeout, match=r"did not answer within 1 s; check `ovs-appctl"):
            with ovsdb.OvsDb(view.remote, 1) as own:
                own.host_info("br-int")
        assert time.monotonic() - started < 2  # bounded by the timeout
    finally:
        ovs.resume_db()
    ovs.plug_tap(tap(), iface_id=VNIC_ID, mac=MAC, vm_id=VM_ID)
    assert tap() in _until(lambda: _names(view), timeout=15)


def test_view_survives_an_ovsdb_server_restart(ovs, view):
    _until(lambda: _names(view))
    ovs._stop_daemon("ovsdb-server", 10, ["exit"])
    _until(lambda: view.client(0) is None)
    with pytest.raises(ovsdb.OvsdbDown, match=r"Open vSwitch is down at unix:.*; systemctl start"):
        with ovsdb.OvsDb(view.remote, 1) as own:
            own.host_info("br-int")
    server = shutil.which("ovsdb-server") or "/usr/sbin/ovsdb-server"
    subprocess.run([server, ovs._path("conf.db"), "--remote=punix:" + ovs.db_socket,
                    "--unixctl=" + ovs._path("ovsdb-server.ctl"), "--pidfile=" + ovs._path("ovsdb-server.pid"),
                    "--log-file=" + ovs._path("ovsdb-server.log"), "--detach", "--no-chdir"],
                   check=True, timeout=20, env=ovs.env)
    ovs.plug_tap(tap(), iface_id=VNIC_ID, mac=MAC, vm_id=VM_ID)
    assert tap() in _until(lambda: _names(view), timeout=15)
    assert _db(view).wait_port(tap(), "br-int", VNIC_ID, 10) is None


def test_a_view_of_a_stopped_switch_answers_at_once(tmp_path):
    """Open vSwitch down when the agent starts: requests do not wait for
    the view, they read on their own and get the one-line error."""
    v = resident.View(f"unix:{tmp_path}/absent.sock", timeout=5).start()
    try:
        started = time.monotonic()
        assert v.client(5) is None
        assert time.monotonic() - started < 2
    finally:
        v.close()

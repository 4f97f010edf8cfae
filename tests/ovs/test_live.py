"""The agent's live OVSDB view (drivers/ovs/live.py) against a real
ovsdb-server: it follows changes, answers the post-plug check from memory,
refuses to serve while ovsdb-server is hung, and survives a restart."""

import shutil
import subprocess
import time

import pytest
from ovs_helpers import MAC, VM_ID, VNIC_ID, tap

from vif_driver.api import NotReady
from vif_driver.drivers.ovs import live

pytestmark = pytest.mark.root


def _until(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def _names(view):
    rows = view.interfaces()
    return None if rows is None else {r["name"]: r["link_state"] for r in rows}


@pytest.fixture
def view(ovs):
    v = live.Live(ovs.remote, timeout=1).start()
    yield v
    v.close()


def test_view_follows_plugs_and_confirms_from_memory(ovs, view):
    assert "br-int" in _until(lambda: _names(view))  # the bridge's internal interface
    with pytest.raises(NotReady, match="libvirt has not added the port"):
        view.wait_port(tap(), "br-int", VNIC_ID, 0.3)
    ovs.plug_tap(tap(), iface_id=VNIC_ID, mac=MAC, vm_id=VM_ID)
    assert view.wait_port(tap(), "br-int", VNIC_ID, 10) == 0
    assert tap() in _names(view)
    with pytest.raises(NotReady, match="bridge br-other does not exist"):
        view.wait_port(tap(), "br-other", VNIC_ID, 0.2)
    ovs.unplug_tap(tap())
    _until(lambda: tap() not in _names(view))


def test_hung_server_is_never_served_and_the_view_comes_back(ovs, view):
    _until(lambda: _names(view))
    ovs.pause_db()
    try:
        _until(lambda: view.interfaces() is None, timeout=live.FRESH + 2)
        started = time.monotonic()
        left = view.wait_port(tap(), "br-int", VNIC_ID, 5)
        assert 4 < left <= 5 and time.monotonic() - started < 1  # the caller checks on its own
    finally:
        ovs.resume_db()
    ovs.plug_tap(tap(), iface_id=VNIC_ID, mac=MAC, vm_id=VM_ID)
    assert tap() in _until(lambda: _names(view), timeout=15)


def test_view_survives_an_ovsdb_server_restart(ovs, view):
    _until(lambda: _names(view))
    ovs._stop_daemon("ovsdb-server", 10, ["exit"])
    _until(lambda: view.interfaces() is None)
    subprocess.run([shutil.which("ovsdb-server") or "/usr/sbin/ovsdb-server", ovs._path("conf.db"), "--remote=punix:" + ovs.db_socket,
                    "--unixctl=" + ovs._path("ovsdb-server.ctl"), "--pidfile=" + ovs._path("ovsdb-server.pid"),
                    "--log-file=" + ovs._path("ovsdb-server.log"), "--detach", "--no-chdir"],
                   check=True, timeout=20, env=ovs.env)
    ovs.plug_tap(tap(), iface_id=VNIC_ID, mac=MAC, vm_id=VM_ID)
    assert tap() in _until(lambda: _names(view), timeout=15)
    assert view.wait_port(tap(), "br-int", VNIC_ID, 10) == 0

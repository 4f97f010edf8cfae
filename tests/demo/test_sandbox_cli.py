"""`python -m vif_driver.tools.sandbox.ovs start DIR` is idempotent: a running
sandbox is reported and kept, a stopped or crashed one starts again in the
same directory (it used to fail with `conf.db: File exists`)."""

import json
import os
import signal
import subprocess
import sys
import time

from support import require_root, require_tool


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "vif_driver.tools.sandbox.ovs", *args], capture_output=True,
                          text=True, timeout=120, check=False)


def _pid(directory, daemon):
    with open(os.path.join(directory, daemon + ".pid")) as f:
        return int(f.read())


def test_start_again_restarts_a_stopped_or_crashed_sandbox_and_keeps_a_running_one(tmp_path):
    require_root()
    require_tool("ovsdb-tool", "ovsdb-server", "ovs-vswitchd", "ovs-vsctl", "ip")
    box = str(tmp_path / "ovs")
    try:
        first = _cli("start", box)
        assert first.returncode == 0, first.stderr
        assert first.stdout.strip() == os.path.join(box, "vif-driver.conf")
        with open(os.path.join(box, "sandbox.json")) as f:
            netns = json.load(f)["netns"]
        pid = _pid(box, "ovsdb-server")

        again = _cli("start", box)  # running: reported, left alone
        assert again.returncode == 0 and "already running" in again.stderr, again.stderr
        assert _pid(box, "ovsdb-server") == pid

        assert _cli("stop", box).returncode == 0
        assert not os.path.exists(f"/run/netns/{netns}")
        restarted = _cli("start", box)  # stopped: conf.db is still there
        assert restarted.returncode == 0, restarted.stderr
        assert _cli("plug", box, "6a9f5e2b-71a3-4c1e-9d1b-2f4e6a8c0b13").returncode == 0

        os.kill(_pid(box, "ovsdb-server"), signal.SIGKILL)  # crashed
        os.kill(_pid(box, "ovs-vswitchd"), signal.SIGKILL)
        time.sleep(0.5)
        after_crash = _cli("start", box)
        assert after_crash.returncode == 0, after_crash.stderr
        with open(os.path.join(box, "sandbox.json")) as f:
            assert json.load(f)["netns"] == netns  # same name, made afresh
        assert os.path.exists(f"/run/netns/{netns}")
    finally:
        assert _cli("stop", box).returncode == 0
        assert _cli("stop", box).returncode == 0  # idempotent
    assert not os.path.exists(f"/run/netns/{netns}")


def test_stop_never_signals_a_process_a_stale_pid_file_names(tmp_path):
    """A crashed sandbox's pid files may name a pid reused by anyone:
    `stop` signals only the daemon started with that pid file."""
    box = tmp_path / "ovs"
    box.mkdir()
    (box / "sandbox.json").write_text(json.dumps({"netns": "vif-test-none", "system_id": "x"}))
    bystander = subprocess.Popen(["sleep", "60"])
    try:
        for daemon in ("ovsdb-server", "ovs-vswitchd"):
            (box / f"{daemon}.pid").write_text(f"{bystander.pid}\n")
        stop = _cli("stop", str(box))
        assert stop.returncode == 0, stop.stderr
        time.sleep(0.2)
        assert bystander.poll() is None, "stop killed a process that is no daemon of the sandbox"
    finally:
        bystander.kill()
        bystander.wait(5)

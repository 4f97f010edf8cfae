"""`vif-driver demo`: the whole flow runs, its traffic step is asserted, and
it cleans up after itself, also when interrupted."""

import os
import re
import signal
import subprocess
import sys
import time

from support import require_root, require_tool

from vif_driver.demo import NS_PREFIX

DEMO = [os.path.join(os.path.dirname(sys.executable), "vif-driver"), "demo"]


def _namespaces() -> set:
    """The demo's namespaces (other tests may run theirs meanwhile)."""
    names = os.listdir("/run/netns") if os.path.isdir("/run/netns") else []
    return {name for name in names if name.startswith(NS_PREFIX)}


def _processes(pattern: str) -> list:
    out = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True, timeout=10).stdout
    return out.split()


def test_demo_pings_and_counts_then_cleans_up():
    require_root()
    require_tool("ovsdb-server", "ovs-vswitchd", "ip", "ping")
    assert _namespaces() == set()
    proc = subprocess.run(DEMO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr
    out = proc.stdout
    assert "3 packets transmitted, 3 received, 0% packet loss" in out
    counters = re.findall(r"(tap\S+): rx (\d+) bytes", out.split("after the ping")[1])
    earlier = dict(re.findall(r"(tap\S+): rx (\d+) bytes", out.split("after the ping")[0]))
    assert len(counters) == 2 and all(int(rx) > int(earlier[tap]) for tap, rx in counters)
    assert out.count("removed from br-int") == 2
    assert "ports left on the network: 0" in out
    assert _namespaces() == set()


def test_demo_interrupted_leaves_nothing_behind():
    require_root()
    require_tool("ovsdb-server", "ovs-vswitchd", "ip")
    proc = subprocess.Popen(DEMO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    seen = ""
    while "libvirt: create" not in seen and time.monotonic() < deadline:  # mid-run: a guest exists
        line = proc.stdout.readline()
        if not line:
            break
        seen += line
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert "libvirt: create" in seen, seen
    assert proc.returncode == 1 and "interrupted" in err
    assert _namespaces() == set()
    assert not _processes("vif-demo-")  # the sandbox daemons and the provider run from its temp dir

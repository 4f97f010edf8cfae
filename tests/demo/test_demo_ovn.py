"""`vif-driver demo --backend ovn --hosts 3` end to end: the ping matrix,
DHCP, stats, the live migration's figures, and nothing left behind (also
when a SIGTERM arrives in the middle)."""

import os
import re
import subprocess
import sys

import pytest

from demo_helpers import interrupt
from support import require_root, require_tool

DEMO = [os.path.join(os.path.dirname(sys.executable), "vif-driver"), "demo", "--backend", "ovn", "--hosts", "3"]
pytestmark = pytest.mark.ovn


def _require():
    require_root()
    from vif_driver.tools.sandbox.ovn import TOOLS
    require_tool(*TOOLS)


def _left_behind(out: str) -> list:
    """Namespaces of the demo's cluster (names carry its run id), processes
    naming its work directory, the work directory itself."""
    workdir = re.search(r"work directory (\S+)", out).group(1)
    run_ids = set(re.findall(r"ovn\d-([0-9a-f]{6})", out))
    left = [n for n in os.listdir("/run/netns") if any(r in n for r in run_ids)] if os.path.isdir("/run/netns") else []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if workdir.encode() in f.read():
                    left.append(f"process {pid}")
        except OSError:
            pass
    if os.path.exists(workdir):
        left.append(workdir)
    return left


def test_ovn_demo_matrix_dhcp_stats_migration_then_nothing_left():
    _require()
    proc = subprocess.run(DEMO, capture_output=True, text=True, timeout=300, check=False)
    out = proc.stdout
    assert proc.returncode == 0, out[-3000:] + proc.stderr
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines()
            if re.match(r"\s+vm\d\s+(-|yes|no)", line)}
    assert rows == {"vm1": ["-", "yes", "no", "yes"], "vm2": ["yes", "-", "no", "yes"],
                    "vm3": ["no", "no", "-", "no"], "vm4": ["yes", "yes", "no", "-"]}, out
    assert re.search(r"DHCP: offered 10\.202\.0\.\d+ netmask 255\.255\.255\.0 router 10\.202\.0\.1 mtu 1442", out), out
    rx = [int(n) for n in re.findall(r"tap\S+: rx (\d+) bytes", out)]
    assert len(rx) == 2 and rx[1] > rx[0]
    sent, lost, dups, changes = map(int, re.search(
        r"(\d+) pings, (\d+) lost, (\d+) duplicate replies; (\d+) chassis changes", out).groups())
    print(f"OVN demo live migration: {lost} of {sent} pings lost, {dups} duplicates, {changes} chassis changes")
    assert sent >= 30 and lost <= 5 and dups == 0 and changes == 0
    assert "northbound rows left: Logical_Switch 0, Logical_Switch_Port 0, DHCP_Options 0" in out
    assert out.count("provider: port status ACTIVE") == 4
    assert out.count("engine: POST /v2.0/ports") == 4 and "engine: PUT /v2.0/ports/" in out
    assert _left_behind(out) == []


@pytest.mark.parametrize("marker", ["Start vm2", "Live migration"])
def test_ovn_demo_interrupted_leaves_nothing_behind(marker):
    _require()
    proc, seen, err = interrupt(DEMO, marker)
    assert proc.returncode == 1 and "interrupted" in err, err
    assert _left_behind(seen) == []

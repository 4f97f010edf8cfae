"""`vif-driver demo --networks` end to end: its matrix and its cleanup."""

import subprocess

from support import require_root, require_tool


def _namespaces():
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, timeout=10).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def test_networks_demo_prints_the_ping_matrix(tmp_path):
    require_root()
    require_tool("ovsdb-server", "ovs-vswitchd", "ip", "ping")
    from vif_driver.tools.demo_networks import run_networks_demo
    lines = []
    before = _namespaces()
    matrix = run_networks_demo(str(tmp_path), echo=lines.append)
    assert matrix[("vm1", "vm2")] and matrix[("vm2", "vm1")]
    assert not any(matrix[(a, b)] for a, b in matrix if "vm3" in (a, b))
    assert any(line.strip().startswith("vm3") and "yes" not in line for line in lines)
    assert not {n for n in _namespaces() - before if n.startswith(("vifh", "vifg", "vifunder"))}

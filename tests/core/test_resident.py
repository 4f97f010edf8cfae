"""Resident drivers (the agent's): opened once before their first call, and
only in a process that said it is long-running; hook processes never open
them."""

import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent("""
    import sys
    from vif_driver.core import dispatch
    from vif_driver.api import VifDriver

    class Counting(VifDriver):
        opened = 0
        def open(self):
            Counting.opened += 1
            assert self.resident

    import vif_driver.core.registry as registry
    registry._instances["counting"] = Counting()
    if sys.argv[1] == "resident":
        dispatch.run_resident()
    first = dispatch.load_driver("counting")
    second = dispatch.load_driver("counting")
    print(first is second, first.resident, Counting.opened)
""")


@pytest.mark.parametrize("mode, expected", [("resident", "True True 1"), ("hook", "True False 0")])
def test_drivers_are_opened_once_and_only_when_resident(mode, expected):
    out = subprocess.run([sys.executable, "-c", SCRIPT, mode], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == expected


def test_dispatch_imports_json_only_for_caps_and_stats():
    """An in-process vNIC hook parses no JSON: json comes with the first
    caps or stats document."""
    code = "import sys; from vif_driver.core import dispatch; print('json' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "False", out.stderr

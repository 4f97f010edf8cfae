"""The session-end check of tests/conftest.py: a run that leaves a namespace,
a process or a temp file behind fails and the leftovers are removed; the
check looks at its own run's resources only (another run's are kept)."""

import os
import re
import subprocess
import sys

from vif_driver.tools.sandbox.netns import RUN_TAG_ENV, Namespace

from support import RUN_TAG, leftover_namespaces, require_root, require_tool

HERE = os.path.dirname(os.path.abspath(__file__))
PYTEST = os.path.join(os.path.dirname(sys.executable), "pytest")


def test_a_run_that_leaves_things_behind_fails_and_they_are_removed():
    require_root()
    require_tool("ip", "sleep")
    mine = Namespace().create()  # this (outer) run's: the inner run must not touch it
    try:
        inner = "rk" + os.urandom(2).hex()
        env = dict(os.environ, VIF_LEAKY_CASES="1", **{RUN_TAG_ENV: inner})
        env.pop("TMPDIR", None)
        env.pop("PYTEST_DEBUG_TEMPROOT", None)
        proc = subprocess.run([PYTEST, "-q", "-s", "-p", "no:cacheprovider", os.path.join(HERE, "leaky_cases.py")],
                              cwd=os.path.dirname(HERE), env=env, capture_output=True, text=True, timeout=120)
        out = proc.stdout + proc.stderr
        assert proc.returncode == 1, out
        ns_name, path = re.search(r"LEFT (\S+) (\S+)", out).groups()
        assert ns_name.endswith("-" + inner)
        assert f"tag {inner}" in out
        assert f"network namespace {ns_name} left" in out
        assert re.search(r"process \d+ still running: sleep 300", out), out
        assert f"{path} left behind" in out
        assert not os.path.exists(f"/run/netns/{ns_name}") and not os.path.exists(path)
        left = subprocess.run(["pgrep", "-f", "^sleep 300$"], capture_output=True, text=True, timeout=10).stdout
        for pid in left.split():
            with open(f"/proc/{pid}/environ", "rb") as f:
                assert f"{RUN_TAG_ENV}={inner}".encode() not in f.read().split(b"\0")
        assert mine.name in leftover_namespaces() and mine.name.endswith("-" + RUN_TAG)
    finally:
        mine.delete()

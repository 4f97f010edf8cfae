"""Tests that leave things behind on purpose, for test_host_check.py (run
only by it, in a pytest of their own with a tag of their own; the name does
not match test_*.py, so no ordinary run collects them)."""

import os
import subprocess
import tempfile

import pytest

from vif_driver.tools.sandbox.netns import Namespace


@pytest.mark.skipif(os.environ.get("VIF_LEAKY_CASES") != "1", reason="only for test_host_check.py")
def test_leaves_a_namespace_a_process_and_a_temp_dir():
    ns = Namespace().create()
    subprocess.Popen(["sleep", "300"], start_new_session=True)
    path = tempfile.mkdtemp(prefix="leaky-")
    print(f"LEFT {ns.name} {path}")

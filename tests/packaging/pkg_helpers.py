"""Helpers of the packaging tests (see tests/support.py for why not conftest)."""

import os
import shutil
import subprocess
import sys

from support import HERE, require, require_root, require_tool  # noqa: F401

sys.path.insert(0, os.path.join(HERE, "agent"))
import agent_helpers  # noqa: E402,F401 - users, hook environments, lifecycles

REPO = os.path.dirname(HERE)
VENV = os.path.dirname(os.path.dirname(sys.executable))
HOOK_POINTS_DIR = "/usr/libexec/vdsm/hooks"


def source_copy(dest: str) -> str:
    """The working tree's files (tracked and new, not ignored) in ``dest``:
    builds here never touch the repository's dist/ or rpmbuild/."""
    listing = subprocess.run(["git", "-C", REPO, "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                             capture_output=True, check=True, timeout=60).stdout.decode()
    for rel in filter(None, listing.split("\0")):
        src = os.path.join(REPO, rel)
        if not os.path.isfile(src):
            continue
        target = os.path.join(dest, rel)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copy2(src, target)
    return dest


def rpm_query(path: str, *args: str) -> str:
    return subprocess.run(["rpm", "-qp", *args, path], capture_output=True, text=True, check=True,
                          timeout=60).stdout

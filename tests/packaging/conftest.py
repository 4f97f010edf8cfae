"""Build the RPMs once per session, with `make rpm`, in a copy of the tree."""

import glob
import os
import subprocess

import pytest
from pkg_helpers import VENV, require_tool, source_copy


def pytest_configure(config):
    # also in setup.cfg's markers; registered here too for --strict-markers
    config.addinivalue_line("markers", "packaging: builds RPMs (never run inside the RPM's own check)")
    config.addinivalue_line("markers", "root: needs root (creates users, runs the agent as root)")


@pytest.fixture(scope="session")
def built(tmp_path_factory):
    """{'python3-vif-driver': path, 'vdsm-hook-vif-driver': path, 'src': path, 'tree': dir}."""
    require_tool("make", "rpmbuild", "git")
    tree = source_copy(str(tmp_path_factory.mktemp("rpm-tree")))
    proc = subprocess.run(["make", "rpm", f"VENV={VENV}"], cwd=tree, capture_output=True, text=True,
                          timeout=1200, check=False)
    assert proc.returncode == 0, f"make rpm failed:\n{proc.stdout[-6000:]}\n{proc.stderr[-6000:]}"
    result = {"tree": tree, "log": proc.stdout + proc.stderr}
    for path in glob.glob(os.path.join(tree, "rpmbuild", "RPMS", "noarch", "*.rpm")):
        name = os.path.basename(path).rsplit("-", 2)[0]
        result[name] = path
    result["src"] = glob.glob(os.path.join(tree, "rpmbuild", "SRPMS", "*.src.rpm"))[0]
    result["sdist"] = glob.glob(os.path.join(tree, "dist", "vif_driver-*.tar.gz"))[0]
    return result

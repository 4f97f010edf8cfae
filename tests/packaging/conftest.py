"""Build the RPMs once per session with `make rpm`, in a copy of the tree, as
an unprivileged user with a fresh venv: what a fresh clone on a builder's
account (or mock, koji) does, so %check must pass without root."""

import glob
import os
import shutil
import tempfile

import pytest
from pkg_helpers import as_build_user, require, require_tool, source_copy


def pytest_configure(config):
    # also in setup.cfg's markers; registered here too for --strict-markers
    config.addinivalue_line("markers", "packaging: builds RPMs (never run inside the RPM's own check)")
    config.addinivalue_line("markers", "root: needs root (creates users, runs the agent as root)")


@pytest.fixture(scope="session")
def built():
    """{'python3-vif-driver': path, 'python3-vif-driver-provider': path,
    'vdsm-hook-vif-driver': path, 'src': path, 'sdist': path, 'tree': dir,
    'log': make's output, 'uid': the builder's uid}. The output is shown only
    when the build fails."""
    require_tool("make", "rpmbuild", "git")
    require(os.path.exists("/usr/bin/python3"), "/usr/bin/python3 (the builder's interpreter)")
    work = tempfile.mkdtemp(prefix="vif-rpm-build-")
    try:
        with as_build_user(work) as user:
            tree = source_copy(os.path.join(work, "tree"))
            user.own(work)
            proc = user.run(["make", "rpm", "PYTHON=/usr/bin/python3"], cwd=tree, timeout=1200)
            assert proc.returncode == 0, f"make rpm as uid {user.uid} failed:\n{proc.stdout[-8000:]}"
            result = {"tree": tree, "log": proc.stdout, "uid": user.uid}
        for path in glob.glob(os.path.join(tree, "rpmbuild", "RPMS", "noarch", "*.rpm")):
            result[os.path.basename(path).rsplit("-", 2)[0]] = path
        result["src"] = glob.glob(os.path.join(tree, "rpmbuild", "SRPMS", "*.src.rpm"))[0]
        result["sdist"] = glob.glob(os.path.join(tree, "dist", "vif_driver-*.tar.gz"))[0]
        yield result
    finally:
        shutil.rmtree(work, ignore_errors=True)

"""Fixtures of the agent tests: test users, agent processes, and hooks the
unprivileged users can run with nothing but the standard library."""

import os
import shutil
import tempfile

import pytest

import vif_driver
from vif_driver.tools import install

from agent_helpers import (
    AGENT_USER,
    INTRUDER,
    SYSTEM_PYTHON,
    TEST_CONFIG,
    VIF_DRIVERD,
    AgentProcess,
    ensure_user,
    require,
    require_root,
)


@pytest.fixture(scope="session")
def users():
    """The unprivileged `vdsm` user the hooks run as, and an intruder."""
    require_root()
    require(os.path.exists(SYSTEM_PYTHON), SYSTEM_PYTHON)
    return {name: ensure_user(name) for name in (AGENT_USER, INTRUDER)}


@pytest.fixture
def shared_dir():
    """A directory every user can read (pytest's tmp_path is root's, 0700)."""
    path = tempfile.mkdtemp(prefix="vif-agent-test-")
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def driver_site(test_driver_path):
    """test_driver_path plus the slow driver, both registered by entry point."""
    shutil.copy(os.path.join(os.path.dirname(__file__), "slow_driver.py"), test_driver_path)
    with open(os.path.join(test_driver_path, "vif_test_driver-1.0.dist-info", "entry_points.txt"), "a") as f:
        f.write("slow = slow_driver:SlowDriver\n")
    return test_driver_path


@pytest.fixture
def agent_config(shared_dir):
    """Write the host config (readable by all) the agent and hooks share."""
    def write(timeout=5, extra=""):
        path = os.path.join(shared_dir, "vif-driver.conf")
        with open(path, "w") as f:
            f.write(TEST_CONFIG.format(timeout=timeout) + extra)
        os.chmod(path, 0o644)
        return path
    return write


@pytest.fixture
def stdlib_hooks(shared_dir):
    """(hooks root, PYTHONPATH): entrypoints with #!/usr/bin/python3, as on a
    host, and a copy of the vif_driver package alone on their path: the
    agent path needs nothing but the standard library."""
    lib = os.path.join(shared_dir, "lib")
    shutil.copytree(os.path.dirname(vif_driver.__file__), os.path.join(lib, "vif_driver"),
                    ignore=shutil.ignore_patterns("__pycache__"))
    root = os.path.join(shared_dir, "hooks")
    install.install_hooks(root, SYSTEM_PYTHON, hooks_dir="")
    for dirpath, _dirnames, filenames in os.walk(shared_dir):
        os.chmod(dirpath, 0o755)
        for name in filenames:
            path = os.path.join(dirpath, name)
            os.chmod(path, 0o755 if os.access(path, os.X_OK) else 0o644)
    return root, lib


@pytest.fixture
def start_agent(shared_dir, driver_site, tmp_path):
    """Start vif-driverd (as root) with the test drivers on its path."""
    started = []

    def start(config, *args, socket_path=None, argv=None, wait=True):
        socket_path = socket_path or os.path.join(shared_dir, "run", "agent.sock")
        env = dict(os.environ, PYTHONPATH=driver_site)
        env.pop("VIF_DRIVER_AGENT_SOCKET", None)
        argv = argv or [VIF_DRIVERD, "--listen", socket_path, "--config", config, *args]
        agent = AgentProcess(argv, env, socket_path, str(tmp_path / f"agent{len(started)}.log"))
        started.append(agent)
        return agent.start(wait)

    yield start
    for agent in started:
        agent.stop()


def pytest_configure(config):
    # also in setup.cfg's markers; registered here too so --strict-markers
    # accepts them whichever is read first
    config.addinivalue_line("markers", "root: needs root (creates users, runs the agent as root)")

"""Constants and helpers shared by every test directory (a module of its
own: each directory's conftest.py is imported under the name 'conftest')."""

import os
import shutil
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "fixtures")
IN_CI = os.environ.get("CI", "").lower() == "true"

VNIC_ID = "6a9f5e2b-71a3-4c1e-9d1b-2f4e6a8c0b13"
VM_ID = "0b7c3a5e-8c2f-4f4b-9a6e-1d2c3b4a5f60"


def require(condition: bool, what: str) -> None:
    """A real part is missing: fail in CI (never skip silently), skip elsewhere."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"CI=true but {what} is missing; .ci/run must install it")
    pytest.skip(f"{what} is missing (outside CI only; under CI=true this fails)")


def require_tool(*names: str) -> None:
    for name in names:
        require(shutil.which(name) is not None or os.path.exists(f"/usr/sbin/{name}"), f"the '{name}' command")


def require_root() -> None:
    require(os.geteuid() == 0, "root (network namespaces need CAP_NET_ADMIN)")


def external_props(plugin_type="OPEN_VSWITCH", vnic_id=VNIC_ID, **extra):
    props = {"provider_type": "EXTERNAL_NETWORK", "plugin_type": plugin_type, "vnic_id": vnic_id}
    props.update(extra)
    return props


# --- this run's host-wide resources ------------------------------------------
# Every run gets a short tag: namespace names made by vif_driver.tools.sandbox end
# with it, processes started by the run carry it in their environment, temp
# files go under a directory of the run, and users the run creates are
# recorded. The session-end check in conftest.py then looks at this run's
# resources only: other runs on the same host (with their own tags) are
# neither reported nor touched.
import fcntl  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402

from vif_driver.tools.sandbox.netns import RUN_TAG_ENV  # noqa: E402

RUN_TAG = os.environ.get(RUN_TAG_ENV) or "r" + uuid.uuid4().hex[:5]
os.environ[RUN_TAG_ENV] = RUN_TAG
STATE_DIR = "/run/vif-driver-tests"  # live sessions and the shared users they made
_session_lock = None


def start_run() -> str:
    """Give the run its temp directory (TMPDIR, sticky like /tmp: the
    unprivileged test users write there too) and, as root, a session lock
    other runs can see; returns the temp directory. pytest's own tmp_path
    stays where it was (PYTEST_DEBUG_TEMPROOT)."""
    global _session_lock
    base = tempfile.gettempdir()
    os.environ.setdefault("PYTEST_DEBUG_TEMPROOT", base)
    run_tmp = os.path.join(base, f"vif-tests-{RUN_TAG}")
    os.makedirs(run_tmp, exist_ok=True)
    os.chmod(run_tmp, 0o1777)
    os.environ["TMPDIR"] = run_tmp
    tempfile.tempdir = None
    if os.geteuid() == 0:
        os.makedirs(STATE_DIR, mode=0o755, exist_ok=True)
        _session_lock = open(os.path.join(STATE_DIR, f"session-{RUN_TAG}.lock"), "w")
        fcntl.flock(_session_lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return run_tmp


class _StateLock:
    """One run at a time creates or removes the shared users."""

    def __enter__(self):
        os.makedirs(STATE_DIR, mode=0o755, exist_ok=True)
        self._f = open(os.path.join(STATE_DIR, ".lock"), "w")
        fcntl.flock(self._f, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        self._f.close()


def ensure_user(name: str):
    """A system user (and its group) for the tests. Created ones are marked
    in STATE_DIR; the last run to finish removes them."""
    import pwd
    with _StateLock():
        try:
            return pwd.getpwnam(name)
        except KeyError:
            pass
        useradd = shutil.which("useradd") or "/usr/sbin/useradd"
        proc = subprocess.run([useradd, "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                               "--user-group", name], capture_output=True, timeout=30, check=False)
        if proc.returncode == 9:  # made meanwhile by a run outside this lock: that run's
            return pwd.getpwnam(name)
        proc.check_returncode()
        with open(os.path.join(STATE_DIR, f"user-{name}"), "w") as f:
            f.write(RUN_TAG + "\n")
        return pwd.getpwnam(name)


def _other_sessions_alive() -> bool:
    for entry in os.listdir(STATE_DIR):
        if not entry.startswith("session-") or entry == f"session-{RUN_TAG}.lock":
            continue
        path = os.path.join(STATE_DIR, entry)
        with open(path, "a") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                return True  # held: that run is still going
        os.unlink(path)  # a run that ended without cleaning up
    return False


def remove_test_users() -> "list[str]":
    """Remove the users test runs created, unless another run is still
    going (it then removes them); returns the users that could not be removed."""
    if not os.path.isdir(STATE_DIR):
        return []
    failed = []
    with _StateLock():
        if not _other_sessions_alive():
            userdel = shutil.which("userdel") or "/usr/sbin/userdel"
            for entry in sorted(os.listdir(STATE_DIR)):
                if entry.startswith("user-"):
                    name = entry[len("user-"):]
                    proc = subprocess.run([userdel, name], capture_output=True, timeout=30, check=False)
                    if proc.returncode not in (0, 6):  # 6: no such user
                        failed.append(f"{name} ({proc.stderr.decode(errors='replace').strip()})")
                        continue
                    os.unlink(os.path.join(STATE_DIR, entry))
    return failed


def leftover_namespaces() -> "list[str]":
    """This run's namespaces still in /run/netns."""
    try:
        names = os.listdir("/run/netns")
    except OSError:
        return []
    return sorted(n for n in names if n.endswith("-" + RUN_TAG) or f"-{RUN_TAG}-" in n)


def leftover_processes() -> "list[tuple[int, str]]":
    """(pid, command line) of processes with this run's tag in their
    environment, other than this one (zombies have no environment)."""
    marker = f"{RUN_TAG_ENV}={RUN_TAG}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                if marker not in f.read().split(b"\0"):
                    continue
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                found.append((int(entry), f.read().replace(b"\0", b" ").decode(errors="replace")[:200]))
        except OSError:
            pass
    return found


def check_run_left_nothing(run_tmp: str) -> "list[str]":
    """What this run left behind (one line each), after removing it so the
    host is clean either way."""
    import signal
    problems = []
    deadline = time.monotonic() + 5  # processes being stopped right now
    while leftover_processes() and time.monotonic() < deadline:
        time.sleep(0.2)
    for pid, cmd in leftover_processes():
        problems.append(f"process {pid} still running: {cmd}")
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                break
            time.sleep(0.5)
    for name in leftover_namespaces():
        problems.append(f"network namespace {name} left in /run/netns")
        subprocess.run(["ip", "netns", "delete", name], capture_output=True, timeout=30, check=False)
    if os.path.isdir(run_tmp):
        for entry in sorted(os.listdir(run_tmp)):
            problems.append(f"temp file or directory {os.path.join(run_tmp, entry)} left behind")
        shutil.rmtree(run_tmp, ignore_errors=True)
    if os.geteuid() == 0:
        problems += [f"user {u} could not be removed" for u in remove_test_users()]
        _end_session()
    return problems


def _end_session() -> None:
    """Drop this run's session lock; the state directory goes with the last run."""
    global _session_lock
    if _session_lock is not None:
        os.unlink(_session_lock.name)
        _session_lock.close()
        _session_lock = None
    with _StateLock():
        if os.listdir(STATE_DIR) == [".lock"]:
            os.unlink(os.path.join(STATE_DIR, ".lock"))
            os.rmdir(STATE_DIR)


def is_stdlib(name: str) -> bool:
    """Whether module ``name`` is the standard library's. sys.stdlib_module_names
    is Python 3.10+; on 3.9 the module's file is under the stdlib directory."""
    top = name.split(".")[0]
    if hasattr(sys, "stdlib_module_names"):
        return top in sys.stdlib_module_names
    if top in sys.builtin_module_names:
        return True
    import importlib.util
    import sysconfig
    spec = importlib.util.find_spec(top)
    if spec is not None and spec.origin in ("built-in", "frozen"):
        return True
    if spec is None or not spec.origin or "site-packages" in spec.origin.split(os.sep):
        return False
    paths = sysconfig.get_paths()
    return any(spec.origin.startswith(os.path.join(paths[key], "")) for key in ("stdlib", "platstdlib"))


class EngineVm:
    """One VM with one external vNIC as the engine makes it: the port it
    POSTs (bound to the host), the properties VDSM gives the vNIC's hooks,
    the <interface> it sends; the guest and its attachment come later."""

    def __init__(self, name, port, host, config):
        from vif_driver.tools.sandbox.hosts import engine_interface
        self.name, self.port, self.host, self.config = name, port, host, config
        self.vm_id = str(uuid.uuid4())
        self.props = {"provider_type": "EXTERNAL_NETWORK", "plugin_type": "OVIRT_PROVIDER_OVN",
                      "vnic_id": port["id"]}
        self.engine_xml = engine_interface(port["mac_address"])
        self.plugged = self.guest = self.attachment = None

    @classmethod
    def create(cls, neutron, net, name, host, config, *, bound_to=None):
        port = neutron.create_port({"port": {"network_id": net["id"], "name": f"{name}-nic1",
                                             "device_owner": "oVirt",
                                             "binding:host_id": bound_to or host.system_id}})["port"]
        return cls(name, port, host, config)

"""Helpers of the packaging tests (see tests/support.py for why not conftest)."""

import contextlib
import os
import pwd
import shutil
import subprocess
import sys

from support import HERE, require, require_root, require_tool  # noqa: F401

sys.path.insert(0, os.path.join(HERE, "agent"))
import agent_helpers  # noqa: E402,F401 - users, hook environments, lifecycles

REPO = os.path.dirname(HERE)
HOOK_POINTS_DIR = "/usr/libexec/vdsm/hooks"
BUILD_TMP = "/tmp"  # the RPM build's TMPDIR


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


class BuildUser:
    """Who builds the RPMs: a throw-away unprivileged user (or, when the
    tests themselves run unprivileged, this user), with a home under the
    build's work directory. TMPDIR is /tmp, as in mock: the tests' unix
    socket paths under it must stay within 107 characters."""

    def __init__(self, uid: int, gid: int, work: str):
        self.uid, self.gid = uid, gid
        home = os.path.join(work, "home")
        os.makedirs(home)
        self.env = {"PATH": "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin", "HOME": home,
                    "TMPDIR": BUILD_TMP, "LANG": "C.UTF-8"}
        self.env.update((k, v) for k, v in os.environ.items() if k.startswith("PIP_"))  # the package index

    def own(self, path: str) -> None:
        if os.geteuid() == 0:
            for dirpath, _dirs, files in os.walk(path):
                os.chown(dirpath, self.uid, self.gid)
                for name in files:
                    os.chown(os.path.join(dirpath, name), self.uid, self.gid, follow_symlinks=False)

    def run(self, argv, cwd: str, timeout: float) -> subprocess.CompletedProcess:
        """Run as this user (no supplementary groups); stdout and stderr
        together in .stdout."""
        ids = {} if os.geteuid() != 0 else {"user": self.uid, "group": self.gid, "extra_groups": []}
        return subprocess.run(argv, cwd=cwd, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, timeout=timeout, check=False, **ids)


@contextlib.contextmanager
def as_build_user(work: str):
    """As root: a user made for this build (unique name) and removed after
    it; its files stay, owned by the freed uid, for root to read and remove."""
    if os.geteuid() != 0:
        yield BuildUser(os.getuid(), os.getgid(), work)
        return
    require_tool("useradd", "userdel")
    name = f"vifrpm{os.getpid()}"
    subprocess.run([shutil.which("useradd") or "/usr/sbin/useradd", "--no-create-home", "--home-dir", "/nonexistent",
                    "--shell", "/usr/sbin/nologin", "--user-group", "--comment", "vif-driver RPM build test", name],
                   check=True, capture_output=True, timeout=30)
    try:
        entry = pwd.getpwnam(name)
        yield BuildUser(entry.pw_uid, entry.pw_gid, work)
    finally:
        shutil.rmtree(os.path.join(BUILD_TMP, f"pytest-of-{name}"), ignore_errors=True)  # %check's
        proc = subprocess.run([shutil.which("userdel") or "/usr/sbin/userdel", name], capture_output=True,
                              text=True, timeout=30, check=False)
        assert proc.returncode == 0, f"userdel {name}: {proc.stderr.strip()}"

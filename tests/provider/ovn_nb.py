"""A throw-away OVN northbound ovsdb-server for the provider's OVN backend.

ovsdb-tool creates the database from the installed OVN NB schema; the
server listens on a unix socket (and a loopback TCP port) inside a temp
dir and is killed, with the dir, at the end.  Without ovsdb-server or the
schema the test skips, or fails with CI=true (support.require).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from support import require

NB_SCHEMA = "/usr/share/ovn/ovn-nb.ovsschema"


def _tool(name: str) -> str | None:
    return shutil.which(name) or next(
        (p for p in (f"/usr/sbin/{name}", f"/usr/bin/{name}") if os.path.exists(p)), None)


class NbServer:
    """ovsdb-server with a fresh OVN_Northbound database."""

    def __init__(self) -> None:
        server, tool = _tool("ovsdb-server"), _tool("ovsdb-tool")
        require(server is not None and tool is not None, "ovsdb-server/ovsdb-tool (openvswitch)")
        require(os.path.exists(NB_SCHEMA), f"the OVN NB schema {NB_SCHEMA} (ovn-common)")
        self.dir = Path(tempfile.mkdtemp(prefix="vif-ovn-nb-"))
        self.sock = self.dir / "nb.sock"
        db = self.dir / "nb.db"
        subprocess.run([tool, "create", str(db), NB_SCHEMA], check=True, timeout=30,
                       capture_output=True)
        self.proc = subprocess.Popen(
            [server, str(db), f"--remote=punix:{self.sock}", "--remote=ptcp:0:127.0.0.1",
             f"--unixctl={self.dir / 'ctl'}", f"--log-file={self.dir / 'nb.log'}",
             "--no-chdir"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not self.sock.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("ovsdb-server for the OVN NB did not start")
            time.sleep(0.02)
        self.remote = f"unix:{self.sock}"

    def nbctl(self, *args: str) -> str:
        """ovn-nbctl against this database (how tests write rows the way
        another provider would)."""
        nbctl = _tool("ovn-nbctl")
        require(nbctl is not None, "ovn-nbctl (ovn-central)")
        out = subprocess.run([nbctl, f"--db={self.remote}", "--no-leader-only", *args],
                             check=True, timeout=30, capture_output=True, text=True)
        return out.stdout.strip()

    def appctl(self, *args: str) -> str:
        """ovs-appctl to this server (remotes added and removed by tests)."""
        appctl = _tool("ovs-appctl")
        require(appctl is not None, "ovs-appctl (openvswitch)")
        out = subprocess.run([appctl, "-t", str(self.dir / "ctl"), *args],
                             check=True, timeout=30, capture_output=True, text=True)
        return out.stdout.strip()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        shutil.rmtree(self.dir, ignore_errors=True)

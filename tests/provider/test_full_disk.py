"""Start-up on a disk that cannot be written: reads served, writes 503.

The database lives on a tiny tmpfs, filled up, mounted in a private mount
namespace (``unshare -m``) that exists only as long as the server: nothing
is mounted on the host, and the mount goes with the process.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vif_driver.provider import validation
from vif_driver.provider.store import Store

from support import require

REPO = Path(__file__).resolve().parents[2]

# Mounts a 1 MiB tmpfs on $MNT, copies the database in, fills the rest,
# then becomes the server (exec), so the namespace lives exactly as long.
IN_NAMESPACE = """
set -e
mount -t tmpfs -o size=1m,mode=0700 vif-test-full "$MNT"
cp "$SEED" "$MNT/p.sqlite"
dd if=/dev/zero of="$MNT/fill" bs=4k 2>/dev/null || true
[ "$MOUNT_RO" = 1 ] && mount -o remount,ro "$MNT"
exec "$@"
"""


def seeded_db(path: Path) -> str:
    store = Store(str(path))
    with store.write() as tx:
        net = tx.create_network(validation.parse(
            "network", {"network": {"name": "kept"}})[0])
    conn = sqlite3.connect(path)  # everything into the file that is copied
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return net["id"]


def request(port: int, method: str, path: str, body: bytes | None = None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, body=body,
                     headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read())
    finally:
        conn.close()


@pytest.mark.parametrize("read_only_mount", [False, True],
                         ids=["full", "read-only"])
def test_server_on_an_unwritable_disk_serves_reads(tmp_path, read_only_mount):
    require(os.geteuid() == 0, "root (mount namespaces)")
    require(shutil.which("unshare") is not None, "unshare (util-linux)")
    seed = tmp_path / "seed.sqlite"
    net_id = seeded_db(seed)
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": str(REPO), "MNT": str(mnt),
           "SEED": str(seed), "MOUNT_RO": "1" if read_only_mount else "0"}
    log = tmp_path / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            ["unshare", "-m", "--propagation", "private", "sh", "-c",
             IN_NAMESPACE, "sh", sys.executable, "-m", "vif_driver.provider",
             "serve", "--port", str(port), "--auth-port", "0", "--db",
             str(mnt / "p.sqlite"), "--workers", "1", "--log-level",
             "warning"], env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while True:
            assert proc.poll() is None, log.read_text()
            try:
                status, body = request(port, "GET", "/v2.0/networks")
                break
            except OSError:
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.2)
        assert status == 200
        assert [n["id"] for n in body["networks"]] == [net_id]
        assert request(port, "GET", f"/v2.0/networks/{net_id}")[0] == 200
        status, body = request(port, "POST", "/v2.0/networks",
                               b'{"network": {"name": "new"}}')
        assert status == 503
        err = body["NeutronError"]
        assert err["type"] == "ServiceUnavailable"
        cause = ("read-only file system" if read_only_mount
                 else "is full")
        assert cause in err["message"]
        lines = [line for line in log.read_text().splitlines()
                 if "serving reads only" in line]
        assert len(lines) == 1 and cause in lines[0], log.read_text()
        assert len(lines[0]) <= 240
    finally:
        proc.terminate()
        proc.wait(20)
    assert not any(mnt.iterdir())  # the tmpfs went with the namespace


def test_a_new_database_on_a_full_disk_names_the_cause(tmp_path):
    require(os.geteuid() == 0, "root (mount namespaces)")
    require(shutil.which("unshare") is not None, "unshare (util-linux)")
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    seed = tmp_path / "empty"
    seed.write_bytes(b"")
    env = {**os.environ, "PYTHONPATH": str(REPO), "MNT": str(mnt),
           "SEED": str(seed), "MOUNT_RO": "0"}
    out = subprocess.run(
        ["unshare", "-m", "--propagation", "private", "sh", "-c",
         IN_NAMESPACE.replace('cp "$SEED" "$MNT/p.sqlite"', ":"), "sh",
         sys.executable, "-m", "vif_driver.provider", "serve", "--db",
         str(mnt / "new" / "p.sqlite"), "--port", "0", "--auth-port", "0"],
        env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 1
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "is full" in lines[0], out.stderr
    assert "permissions" not in lines[0]

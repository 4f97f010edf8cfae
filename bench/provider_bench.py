"""Provider bench: port lookups, filtered and full, with 10,000 ports.

1. ``GET /v2.0/ports?device_id=X`` (what the VIF drivers do) must cost at
   most 1.5x ``GET /v2.0/`` on the same server, i.e. next to nothing beyond
   the HTTP round trip itself.  A table scan would blow that ratio up.
2. ``GET /v2.0/ports`` (the oVirt engine's locatePort lists ALL ports on
   every vNIC operation) must cost at most 1.5x one ``json.dumps`` of the
   same answer measured in the same run: serving the list may not cost
   much more than encoding it once, whatever this machine's speed.

Usage: python bench/provider_bench.py [--ports N] [--requests N]
       python bench/provider_bench.py --backend ovn [--ports 2000 10000]
       (the OVN backend next to ovirt-provider-ovn: provider_ovn_bench.py)
Prints one line; exits 1 when over the limit.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from vif_driver.provider import validation  # noqa: E402
from vif_driver.provider.store import Store  # noqa: E402

LIMIT = 1.5


def fill(db: str, ports: int) -> int:
    """Store ``ports`` ports, two per VM, in one transaction; returns #VMs."""
    store = Store(db)
    vms = max(1, ports // 2)
    with store.write() as tx:
        net = tx.create_network(validation.parse(
            "network", {"network": {"name": "bench"}})[0])
        tx.create_subnet(validation.parse("subnet", {"subnet": {
            "network_id": net["id"], "cidr": "10.0.0.0/16"}})[0])
        for i in range(ports):
            tx.create_port(validation.parse("port", {"port": {
                "network_id": net["id"], "device_owner": "oVirt",
                "device_id": f"vm-{i % vms}"}})[0])
    return vms


def query_plans(db: str) -> list[str]:
    """EXPLAIN QUERY PLAN of the statements a device_id lookup runs.

    At 10,000 rows even a table scan is fast enough to pass the timing on
    some machines, so the bench also checks the plan: no SCAN of a table.
    """
    statements: list[str] = []
    with Store(db).read() as tx:
        tx.conn.set_trace_callback(statements.append)
        tx.list_ports({"device_id": ["vm-1"]})
        tx.conn.set_trace_callback(None)
        return [" | ".join(row[3] for row in tx.conn.execute(
            "EXPLAIN QUERY PLAN " + sql)) for sql in statements
            if sql.startswith("SELECT")]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(db: str, port: int, log) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": REPO}
    proc = subprocess.Popen(
        [sys.executable, "-m", "vif_driver.provider", "serve",
         "--host", "127.0.0.1", "--port", str(port), "--auth-port", "0",
         "--db", db, "--workers", "1", "--threads", "2",
         "--log-level", "warning"], cwd=REPO, env=env, stdout=log,
        stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"provider exited {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), 0.5):
                return proc
        except OSError:
            time.sleep(0.1)
    proc.terminate()
    raise SystemExit("provider did not start listening within 20s")


def fetch(conn: http.client.HTTPConnection, path: str
          ) -> tuple[float, bytes]:
    """Seconds for one GET, response read to the end, and its body."""
    t0 = time.perf_counter()
    conn.request("GET", path)
    resp = conn.getresponse()
    body = resp.read()
    elapsed = time.perf_counter() - t0
    if resp.status != 200 or not body:
        raise SystemExit(f"GET {path} answered {resp.status}")
    return elapsed, body


def timed(conn: http.client.HTTPConnection, path: str) -> float:
    return fetch(conn, path)[0]


def full_list(conn: http.client.HTTPConnection, rounds: int
              ) -> tuple[float, float, int, int]:
    """(median seconds of GET /v2.0/ports, median seconds of json.dumps of
    its parsed answer, bytes, ports), interleaved so both see the same
    machine load."""
    served, encoded = [], []
    body = b""
    for i in range(rounds + 2):  # 2 warm-up rounds
        elapsed, body = fetch(conn, "/v2.0/ports")
        answer = json.loads(body)
        t0 = time.perf_counter()
        json.dumps(answer)
        dumped = time.perf_counter() - t0
        if i >= 2:
            served.append(elapsed)
            encoded.append(dumped)
    return (statistics.median(served), statistics.median(encoded),
            len(body), len(json.loads(body)["ports"]))


def main() -> int:
    if "--backend" in sys.argv:  # --backend ovn [--ports N ...]: provider_ovn_bench.py
        i = sys.argv.index("--backend")
        backend = sys.argv[i + 1] if i + 1 < len(sys.argv) else ""
        if backend == "ovn":
            import provider_ovn_bench
            sys.argv[i:i + 2] = []
            return provider_ovn_bench.main()
        if backend != "sqlite":
            raise SystemExit("--backend is sqlite or ovn")
        sys.argv[i:i + 2] = []
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ports", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--full-lists", type=int, default=15,
                        help="rounds of the full port list")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="vif-bench-provider-") as tmp:
        db = os.path.join(tmp, "provider.sqlite")
        vms = fill(db, args.ports)
        scans = [p for p in query_plans(db) if "SCAN" in p]
        port = free_port()
        with open(os.path.join(tmp, "server.log"), "wb") as log:
            proc = start(db, port, log)
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port,
                                                  timeout=10)
                rng = random.Random(42)
                base, lookup = [], []
                for i in range(args.requests + 50):  # 50 warm-up rounds
                    vm = rng.randrange(vms)
                    a = timed(conn, "/v2.0/")
                    b = timed(conn, f"/v2.0/ports?device_id=vm-{vm}")
                    if i >= 50:
                        base.append(a)
                        lookup.append(b)
                full, dumps, size, count = full_list(conn, args.full_lists)
                conn.close()
            finally:
                proc.terminate()
                proc.wait(15)
    ms_base = statistics.median(base) * 1000
    ms_lookup = statistics.median(lookup) * 1000
    ratio = ms_lookup / ms_base
    print(f"provider: filtered port list by device_id  {ms_lookup:.2f} ms  "
          f"ratio {ratio:.2f}x vs GET /v2.0/ {ms_base:.2f} ms "
          f"({args.ports} ports; limit {LIMIT}x)"
          + (f"  TABLE SCAN: {scans[0]}" if scans else ""))
    full_ratio = full / dumps
    print(f"provider: full port list (GET /v2.0/ports)  {full * 1000:.2f} ms"
          f"  ratio {full_ratio:.2f}x vs one json.dumps of it "
          f"{dumps * 1000:.2f} ms ({count} ports, {size / 1e6:.1f} MB; "
          f"limit {LIMIT}x)")
    if count != args.ports:
        print(f"provider: full list has {count} ports, not {args.ports}")
        return 1
    return 1 if ratio > LIMIT or scans or full_ratio > LIMIT else 0


if __name__ == "__main__":
    sys.exit(main())

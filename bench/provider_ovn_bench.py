"""Provider bench on the OVN backend, next to ovirt-provider-ovn's figures.

A throw-away NB ovsdb-server, ``serve --backend ovn`` (its default: one
gevent worker), one network with a /16 subnet; then port create with one client
and with 8 concurrent clients, the engine's full port list, a list
filtered by device_id, update and delete.  The peer, run from source
against the same NB database here (issue 13): 235 ports/s one client,
160-230 with 8, full list of 2,000 ports 266 ms (filtered 264 ms), update
and delete 11 ms.  Fails (exit 1) below 3x the peer on any of them.

Next to it, the library floor: ovsdbapp alone (its OVN NB API's lsp_add,
one transaction per port, in this process, no HTTP, no provider) on the
same database, with the JSON parser python-ovs has here.  A provider on
ovsdbapp cannot create ports faster than that one client at a time.

Usage: python bench/provider_ovn_bench.py [--ports 2000 10000 ...] [--runs N]
(``--runs``: each size N times on fresh databases; the median of each
figure is judged, the range printed next to it).  ``make bench`` runs it
with 2,000 and 10,000 ports; the plug-to-ovn-installed latency on a
simulated OVN chassis is bench/cases_ovn.py's (``bench/run.py ovn``,
also in ``make bench``).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from provider_bench import REPO, free_port  # noqa: E402

PEER = {"create1": 235.0, "create8": 230.0, "list": 0.266, "filtered": 0.264,
        "update": 0.011, "delete": 0.011}
SCHEMA = "/usr/share/ovn/ovn-nb.ovsschema"


def tool(name: str) -> str:
    path = shutil.which(name) or f"/usr/sbin/{name}"
    if not os.path.exists(path):
        raise SystemExit(f"{name} is missing (openvswitch)")
    return path


class Http:
    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def call(self, method: str, path: str, body: dict | None = None) -> tuple[float, dict]:
        data = json.dumps(body).encode() if body is not None else None
        t0 = time.perf_counter()
        try:
            self.conn.request(method, path, body=data, headers={"Content-Type": "application/json"})
            resp = self.conn.getresponse()
        except (http.client.RemoteDisconnected, BrokenPipeError):  # idle keep-alive closed
            self.conn.close()
            t0 = time.perf_counter()
            self.conn.request(method, path, body=data, headers={"Content-Type": "application/json"})
            resp = self.conn.getresponse()
        raw = resp.read()
        elapsed = time.perf_counter() - t0
        if resp.status >= 300:
            raise SystemExit(f"{method} {path} answered {resp.status}: {raw[:200]!r}")
        return elapsed, (json.loads(raw) if raw else {})


def library_floor(sock: str, count: int) -> float:
    """Ports/s of bare ovsdbapp lsp_add, one per transaction, on a new switch."""
    from ovsdbapp.backend.ovs_idl import connection
    from ovsdbapp.schema.ovn_northbound import impl_idl
    idl = connection.OvsdbIdl.from_server(f"unix:{sock}", "OVN_Northbound")
    conn = connection.Connection(idl, 30)
    # ovsdbapp keeps the connection in a class attribute: a class per run.
    api = type("FloorApi", (impl_idl.OvnNbApiIdlImpl,), {"_ovsdb_connection": None})(conn)
    try:
        api.ls_add("floor").execute(check_error=True)
        t0 = time.perf_counter()
        for i in range(count):
            mac = f"02:00:00:{i >> 16 & 255:02x}:{i >> 8 & 255:02x}:{i & 255:02x}"
            words = f"{mac} 10.129.{i >> 8 & 255}.{i & 255}"
            api.lsp_add("floor", f"floor-{i}", addresses=[words], port_security=[words],
                        options={"requested-chassis": f"host{i % 7}"},
                        external_ids={"ovirt_nic_name": f"nic{i}", "ovirt_device_id": f"vm-{i}",
                                      "ovirt_device_owner": "oVirt"}).execute(check_error=True)
        return count / (time.perf_counter() - t0)
    finally:
        conn.stop(10)


def run(ports: int, tmp: str) -> dict:
    db = os.path.join(tmp, f"nb{ports}.db")
    sock = os.path.join(tmp, f"nb{ports}.sock")
    subprocess.run([tool("ovsdb-tool"), "create", db, SCHEMA], check=True, timeout=30)
    nb = subprocess.Popen([tool("ovsdb-server"), db, f"--remote=punix:{sock}",
                           f"--unixctl={tmp}/ctl{ports}", "--no-chdir"],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    port = free_port()
    log = open(os.path.join(tmp, f"server{ports}.log"), "wb")
    while not os.path.exists(sock):
        time.sleep(0.02)
    prov = subprocess.Popen(
        [sys.executable, "-m", "vif_driver.provider", "serve", "--backend", "ovn",
         "--ovn-nb", f"unix:{sock}", "--host", "127.0.0.1", "--port", str(port),
         "--auth-port", "0", "--log-level", "warning"],
        cwd=REPO, env={**os.environ, "PYTHONPATH": REPO}, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                c = Http(port)
                c.call("GET", "/v2.0/")
                break
            except (OSError, http.client.HTTPException):
                if time.monotonic() > deadline or prov.poll() is not None:
                    raise SystemExit("provider did not start") from None
                time.sleep(0.1)
        _, net = c.call("POST", "/v2.0/networks", {"network": {"name": "bench"}})
        net_id = net["network"]["id"]
        c.call("POST", "/v2.0/subnets", {"subnet": {"network_id": net_id, "cidr": "10.128.0.0/16"}})

        def body(i: int) -> dict:
            return {"port": {"network_id": net_id, "name": f"nic{i}", "device_owner": "oVirt",
                             "device_id": f"vm-{i}", "binding:host_id": f"host{i % 7}"}}
        one = ports // 2
        t0 = time.perf_counter()
        for i in range(one):
            c.call("POST", "/v2.0/ports", body(i))
        create1 = one / (time.perf_counter() - t0)
        print(f"  one client: {create1:.0f} ports/s", file=sys.stderr, flush=True)
        lat: list[float] = []
        left = ports - one

        def client(k: int) -> None:
            h = Http(port)
            for i in range(one + k, ports, 8):
                lat.append(h.call("POST", "/v2.0/ports", body(i))[0])
        threads = [threading.Thread(target=client, args=(k,)) for k in range(8)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        create8 = left / (time.perf_counter() - t0)
        full = statistics.median(c.call("GET", "/v2.0/ports")[0] for _ in range(7))
        _, answer = c.call("GET", "/v2.0/ports")
        if len(answer["ports"]) != ports:
            raise SystemExit(f"full list has {len(answer['ports'])} ports, not {ports}")
        filtered = statistics.median(c.call("GET", f"/v2.0/ports?device_id=vm-{i}")[0]
                                     for i in range(0, ports, max(1, ports // 100)))
        ids = [p["id"] for p in answer["ports"]][:100]
        update = statistics.median(c.call("PUT", f"/v2.0/ports/{i}", {"port": {
            "binding:host_id": "host-x"}})[0] for i in ids)
        delete = statistics.median(c.call("DELETE", f"/v2.0/ports/{i}")[0] for i in ids)
        lat.sort()
        prov.terminate()
        prov.wait(15)
        floor = library_floor(sock, one)
        return {"floor": floor, "create1": create1, "create8": create8, "p99": lat[int(len(lat) * 0.99)],
                "list": full, "filtered": filtered, "update": update, "delete": delete}
    finally:
        prov.terminate()
        prov.wait(15)
        nb.terminate()
        nb.wait(10)
        log.close()


def python_ovs() -> str:
    import ovs.json
    import ovs.version
    kind = "C" if ovs.json.PARSER == ovs.json.PARSER_C else "pure Python"
    return f"python-ovs {ovs.version.VERSION}, {kind} JSON parser"


def _judge(n: int, r: dict) -> dict:
    scale = n / 2000  # the peer's list figures are for 2,000 ports
    return {"create1": r["create1"] >= 3 * PEER["create1"],
            "create8": r["create8"] >= 3 * PEER["create8"],
            "list": r["list"] * 3 <= PEER["list"] * scale,
            "filtered": r["filtered"] * 3 <= PEER["filtered"] * scale,
            "update": r["update"] * 3 <= PEER["update"],
            "delete": r["delete"] * 3 <= PEER["delete"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ports", type=int, nargs="+", default=[2000])
    parser.add_argument("--runs", type=int, default=1, help="runs per size (median judged)")
    args = parser.parse_args()
    bad = False
    with tempfile.TemporaryDirectory(prefix="vif-bench-ovn-") as tmp:
        for n in args.ports:
            runs = []
            for k in range(max(1, args.runs)):
                where = os.path.join(tmp, f"run{n}-{k}")  # a fresh database each run
                os.makedirs(where)
                runs.append(run(n, where))
            r = {key: statistics.median(x[key] for x in runs) for key in runs[0]}
            spread = {key: (min(x[key] for x in runs), max(x[key] for x in runs)) for key in runs[0]}
            ok = _judge(n, r)
            bad |= not all(ok.values())
            flag = {k: "" if v else " (<3x peer)" for k, v in ok.items()}

            def rng(key: str, fmt: str, mult: float = 1.0, spread: dict = spread,
                    single: bool = len(runs) == 1) -> str:
                if single:
                    return ""
                lo, hi = spread[key]
                return f" [{fmt.format(lo * mult)}-{fmt.format(hi * mult)}]"
            print(f"provider ovn, {n} ports{'' if len(runs) == 1 else f', median of {len(runs)} runs'}: "
                  f"create {r['create1']:.0f}/s{rng('create1', '{:.0f}')} one client{flag['create1']}, "
                  f"{r['create8']:.0f}/s{rng('create8', '{:.0f}')} 8 clients "
                  f"(p99 {r['p99'] * 1000:.1f} ms){flag['create8']}; "
                  f"full list {r['list'] * 1000:.1f} ms{rng('list', '{:.1f}', 1000)}{flag['list']}, filtered "
                  f"{r['filtered'] * 1000:.2f} ms{flag['filtered']}; update "
                  f"{r['update'] * 1000:.2f} ms{rng('update', '{:.2f}', 1000)}{flag['update']}, delete "
                  f"{r['delete'] * 1000:.2f} ms{rng('delete', '{:.2f}', 1000)}{flag['delete']}", flush=True)
            print(f"  library floor ({python_ovs()}): ovsdbapp alone creates {r['floor']:.0f} ports/s"
                  f"{rng('floor', '{:.0f}')} one at a time; 3x the peer is "
                  f"{3 * PEER['create1']:.0f}/s", flush=True)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

"""The benchmark harness: whole hook processes, started the way VDSM starts
them, timed against baseline interpreter runs in the same session.

Each case names its baseline ("bare": `python -c pass`, "lxml": `python -c
"import lxml.etree"`, "ovs": `python -c "import ovs.db.idl"`) and its limit
as a ratio. Case and baseline runs are interleaved and medians compared, so
machine load drifts affect both alike.
"""

import os
import statistics
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
with open(os.path.join(REPO, "tests", "fixtures", "xml", "engine-nic.xml"), encoding="utf-8") as _f:
    ENGINE_XML = _f.read()  # the engine's device XML at VM start, as the tests use it


def writer(path, text):
    """A Case.prepare that restores a hook's input file before each run."""
    def prepare():
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
    return prepare


BASELINES = {
    "bare": ["-c", "pass"],
    "lxml": ["-c", "import lxml.etree"],
    "ovs": ["-c", "import ovs.db.idl"],
}


class Case:
    """One timed command. ``prepare`` runs (untimed) before every run, e.g.
    to restore the hook's input file; ``check`` validates the last run."""

    def __init__(self, name, argv, *, env=None, baseline="bare", limit=None, prepare=None,
                 check=None, expect_rc=0):
        self.name, self.argv, self.env = name, argv, env
        self.baseline, self.limit = baseline, limit
        self.prepare, self.check, self.expect_rc = prepare, check, expect_rc


def _time(argv, env, prepare=None):
    if prepare:
        prepare()
    start = time.perf_counter()
    proc = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, timeout=60, check=False)
    return time.perf_counter() - start, proc


def measure(case, python=sys.executable, runs=30):
    base_argv = [python] + BASELINES[case.baseline]
    env = case.env if case.env is not None else dict(os.environ)
    base, times = [], []
    for _ in range(3):  # warm the page cache
        _time(base_argv, env)
        _time(case.argv, env, case.prepare)
    for _ in range(runs):
        base.append(_time(base_argv, env)[0])
        elapsed, proc = _time(case.argv, env, case.prepare)
        times.append(elapsed)
        if proc.returncode != case.expect_rc:
            raise RuntimeError(f"{case.name}: exit code {proc.returncode}, expected {case.expect_rc}: "
                               f"{proc.stderr.decode(errors='replace').strip()}")
    if case.check:
        case.check()
    b, t = statistics.median(base), statistics.median(times)
    return b, t, t / b


def report(cases, python=sys.executable, runs=30):
    """Print one line per case; returns the number over their limit."""
    over = 0
    for case in cases:
        b, t, ratio = measure(case, python, runs)
        verdict = ""
        if case.limit is not None:
            ok = ratio <= case.limit
            over += not ok
            verdict = f"limit {case.limit:.2f}x  {'ok' if ok else 'OVER'}"
        print(f"{case.name:58} {t * 1000:7.1f} ms  {case.baseline} {b * 1000:6.1f} ms  "
              f"ratio {ratio:5.2f}x  {verdict}", flush=True)
    return over

"""`make bench`: run every bench/cases_*.py and print ratios.

A cases module defines ``cases(workdir, python)``: a context manager that
sets up what its cases need (a test OVS, namespaces, ...) and yields a list
of hookbench.Case. Usage: python bench/run.py [--runs N] [name-filter ...]
"""

import argparse
import contextlib
import glob
import importlib.util
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hookbench  # noqa: E402


def _modules(filters):
    here = os.path.dirname(os.path.abspath(__file__))
    for path in sorted(glob.glob(os.path.join(here, "cases_*.py"))):
        name = os.path.basename(path)[:-3]
        if filters and not any(f in name for f in filters):
            continue
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        yield name, module


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("filters", nargs="*", help="only cases_*.py modules whose name contains one")
    args = parser.parse_args()
    python = sys.executable
    print(f"interpreter: {python}")
    over = 0
    for name, module in _modules(args.filters):
        with tempfile.TemporaryDirectory(prefix=f"vif-bench-{name}-") as workdir, \
                contextlib.ExitStack() as stack:
            cases = stack.enter_context(module.cases(workdir, python))
            over += hookbench.report(cases, python, args.runs)
    if over:
        print(f"{over} case(s) over their limit")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

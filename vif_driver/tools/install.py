"""Installing the thin hook entrypoints into VDSM's hook directories.

One code path for `vif-driver install-hooks` (running interpreter in the
shebang, for development and tests) and the Makefile / RPM install
(/usr/bin/python3): ``python3 -m vif_driver.tools.install --destdir DIR``.
"""

from __future__ import annotations

import argparse
import os
import sys

from vif_driver.hook.points import HOOK_POINTS

HOOKS_DIR = "/usr/libexec/vdsm/hooks"
SCRIPT_NAME = "50_vif_driver"


def render(interpreter: str) -> str:
    """The entrypoint source (vif_driver/hook/script.py, also hooks/50_vif_driver)
    with ``interpreter`` in its shebang."""
    template = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "hook", "script.py")
    with open(template, encoding="utf-8") as f:
        lines = f.read().splitlines(keepends=True)
    return f"#!{interpreter}\n" + "".join(lines[1:])


def install_hooks(destdir: str, interpreter: str, hooks_dir: str = HOOKS_DIR,
                  hook_points=None) -> list[str]:
    """Write DESTDIR/<hooks_dir>/<hook_point>/50_vif_driver, mode 0755; returns the paths."""
    if not os.path.isabs(interpreter):
        raise ValueError(f"interpreter {interpreter!r} must be an absolute path")
    body = render(interpreter).encode("utf-8")
    written = []
    for point in sorted(hook_points or HOOK_POINTS):
        directory = os.path.join(destdir, hooks_dir.lstrip("/"), point)
        os.makedirs(directory, exist_ok=True)
        path = os.path.join(directory, SCRIPT_NAME)
        tmp = path + ".tmp"
        with open(tmp, "wb") as f:
            f.write(body)
        os.chmod(tmp, 0o755)
        os.replace(tmp, path)
        written.append(path)
    return written


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Install vif-driver's VDSM hook entrypoints.")
    parser.add_argument("--destdir", default="/", help="root to install under (packaging: the buildroot)")
    parser.add_argument("--interpreter", default="/usr/bin/python3", help="absolute path for the shebang")
    args = parser.parse_args(argv)
    for path in install_hooks(args.destdir, args.interpreter):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())

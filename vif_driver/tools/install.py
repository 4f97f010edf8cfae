"""Installing the thin hook entrypoints into VDSM's hook directories.

One code path for `vif-driver install-hooks` (running interpreter in the
shebang, for development and tests) and the Makefile / RPM install
(/usr/bin/python3): ``python3 -m vif_driver.tools.install --destdir DIR``.

VDSM runs a directory's scripts in sorted order. The vNIC, caps and stats
points get ``50_vif_driver``; the network-setup points ``10_vif_driver``,
so that a refusal of before_network_setup comes before VDSM's own
``50_fcoe`` has written /etc/fcoe/cfg-NIC and restarted lldpad and fcoe
for a setup that is then aborted (the after points keep the same name:
one name per family, and their order changes nothing).
"""

from __future__ import annotations

import argparse
import os
import sys

from vif_driver.hook.points import HOOK_POINTS, NETWORK_SETUP

HOOKS_DIR = "/usr/libexec/vdsm/hooks"
SCRIPT_NAME = "50_vif_driver"  # vNIC, caps and stats hook points
NETWORK_SETUP_SCRIPT_NAME = "10_vif_driver"  # before_network_setup and the after points
SCRIPT_NAMES = (NETWORK_SETUP_SCRIPT_NAME, SCRIPT_NAME)
# Line 2 of every entrypoint (hook/script.py): how a script under a name we
# no longer use there is told ours
MARKER = b"vif-driver's VDSM hook entrypoint"


def script_name(hook_point: str) -> str:
    """The entrypoint's file name in this hook point's directory."""
    point = HOOK_POINTS.get(hook_point)
    return NETWORK_SETUP_SCRIPT_NAME if point is not None and point.call == NETWORK_SETUP else SCRIPT_NAME


def stale_scripts(directory: str, hook_point: str) -> list[str]:
    """Our entrypoints in a hook directory under a name this version does
    not install there (a 50_vif_driver of an earlier version in the
    network-setup points): VDSM would run them too, and late."""
    found = []
    for name in SCRIPT_NAMES:
        path = os.path.join(directory, name)
        if name == script_name(hook_point) or not (os.path.isfile(path) and os.access(path, os.X_OK)):
            continue  # VDSM does not run it either
        try:
            with open(path, "rb") as f:
                head = f.read(512)
        except OSError:
            continue
        if MARKER in head:
            found.append(path)
    return found


def render(interpreter: str) -> str:
    """The entrypoint source (vif_driver/hook/script.py, also hooks/10_vif_driver
    and hooks/50_vif_driver) with ``interpreter`` in its shebang."""
    template = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "hook", "script.py")
    with open(template, encoding="utf-8") as f:
        lines = f.read().splitlines(keepends=True)
    return f"#!{interpreter}\n" + "".join(lines[1:])


def install_hooks(destdir: str, interpreter: str, hooks_dir: str = HOOKS_DIR,
                  hook_points=None) -> list[str]:
    """Write DESTDIR/<hooks_dir>/<hook_point>/<script_name(hook_point)>, mode
    0755, and remove our entrypoint under its other name there (an upgrade
    from an earlier install); returns the paths written."""
    if not os.path.isabs(interpreter):
        raise ValueError(f"interpreter {interpreter!r} must be an absolute path")
    body = render(interpreter).encode("utf-8")
    written = []
    for point in sorted(hook_points or HOOK_POINTS):
        directory = os.path.join(destdir, hooks_dir.lstrip("/"), point)
        os.makedirs(directory, exist_ok=True)
        path = os.path.join(directory, script_name(point))
        tmp = path + ".tmp"
        with open(tmp, "wb") as f:
            f.write(body)
        os.chmod(tmp, 0o755)
        os.replace(tmp, path)
        written.append(path)
        for stale in stale_scripts(directory, point):
            os.unlink(stale)
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

"""Capture: save a real hook run's input as a fixture `vif-driver replay` takes.

Switched on by ``capture_dir`` in the host config (runs that are ours) or by
$VIF_DRIVER_CAPTURE_DIR (every run). The hook process saves the
$VIF_DRIVER_CAPTURE_DIR ones and, without an agent, the capture_dir ones;
with an agent, the agent saves the capture_dir ones from the request (the
hook does not read the config then). Files are 0600: custom properties can
hold provider credentials.
"""

from __future__ import annotations

import json
import os
import time

from vif_driver.core import validate
from vif_driver.tools.fixture import Fixture

# The runner's own variables and the process environment VDSM passes down:
# not properties, and not worth replaying.
_SKIP = {"_hook_domxml", "_hook_json", "PATH", "PWD", "OLDPWD", "HOME", "SHLVL", "_", "PYTHONPATH",
         "LS_COLORS", "TERM", "LANG", "LC_ALL", "NOTIFY_SOCKET", "INVOCATION_ID", "JOURNAL_STREAM"}


def save(directory: str, hook_point: str, point, environ, data: str | None = None) -> str:
    """The fixture's path. ``data``: the hook's data when the caller has it
    (the agent), else read from the file ``environ`` names."""
    path = environ.get(point.env_var)
    if data is None:
        data = ""
        if path:
            with open(path, encoding="utf-8") as f:
                data = f.read()
    props = {k: v for k, v in environ.items()
             if k not in _SKIP and k != "vmId" and not k.startswith("VIF_DRIVER_")}
    fixture = Fixture(hook_point, data, props, vm_id=environ.get("vmId"),
                      description=f"captured {time.strftime('%Y-%m-%dT%H:%M:%S')} on {os.uname().nodename}")
    os.makedirs(directory, mode=0o700, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    try:
        who = validate.vnic_id(props.get("vnic_id", "host"))  # it becomes part of a path
    except ValueError:
        who = "invalid-vnic-id"
    # one process (the agent) can save the same vNIC's run twice a second
    for n in range(1, 1000):
        suffix = "" if n == 1 else f"-{n}"
        target = os.path.join(directory, f"{stamp}-{os.getpid()}-{hook_point}-{who}{suffix}.json")
        try:
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            break
        except FileExistsError:
            continue
    else:
        raise FileExistsError(f"999 captures of {hook_point} {who} in {directory} this second")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(fixture.to_dict(), f, indent=2, sort_keys=True)
    return target

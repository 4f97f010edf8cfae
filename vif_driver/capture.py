"""Capture: save a real hook run's input as a fixture `vif-driver replay` takes.

Switched on by ``capture_dir`` in the host config (runs that are ours) or by
$VIF_DRIVER_CAPTURE_DIR (every run). Files are 0600: custom properties can
hold provider credentials.
"""

import json
import os
import time

from vif_driver import validate
from vif_driver.fixture import Fixture

# The runner's own variables and the process environment VDSM passes down:
# not properties, and not worth replaying.
_SKIP = {"_hook_domxml", "_hook_json", "PATH", "PWD", "OLDPWD", "HOME", "SHLVL", "_", "PYTHONPATH",
         "LS_COLORS", "TERM", "LANG", "LC_ALL", "NOTIFY_SOCKET", "INVOCATION_ID", "JOURNAL_STREAM"}


def save(directory: str, hook_point: str, point, environ) -> str:
    path = environ.get(point.env_var)
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
    target = os.path.join(directory, f"{stamp}-{os.getpid()}-{hook_point}-{who}.json")
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(fixture.to_dict(), f, indent=2, sort_keys=True)
    return target

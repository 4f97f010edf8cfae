"""The hook side of VDSM's network setup: decide cheaply whether a
setupNetworks request can touch an external network's underlay at all.

os and sys only. supervdsm runs these hooks as root while it holds the
lock every other network verb waits for, so the common case (a request
naming nothing we depend on) must cost a bare interpreter start: one read
of the request's bytes and of a small token file the framework keeps
(``STATE_DIR/underlay-tokens``, written by vif_driver.core.underlay_state
whenever it has asked the drivers): the names of the devices the drivers
depend on and of VDSM's networks and bonds on them. A request that names
none of them (as a JSON string), carries no ``underlay`` custom property
and is no rollback passes untouched; anything else, or a token file
missing or stale (older than TOKEN_TTL, or older than the host config,
VDSM's running config or our underlay state), goes to the full check
(vif_driver.core.network_setup), in this process: no agent.

Exit codes: 2 (points.REFUSED) only for a refusal; a failure of ours at
before_network_setup (the request unreadable or not JSON, the config, a
driver's backend, a bug) is 0 with one warning line ending "the network
setup goes on unchecked" (VDSM logs it), in a rollback too; the after
hooks fail with 1, which VDSM only logs.
"""

from __future__ import annotations

import os
import time

STATE_DIR_ENV = "VIF_DRIVER_STATE_DIR"
DEFAULT_STATE_DIR = "/var/lib/vif-driver"
NETCONF_ENV = "VIF_DRIVER_NETCONF_DIR"  # VDSM's running config (tests point it elsewhere)
DEFAULT_NETCONF_DIR = "/var/lib/vdsm/staging/netconf"
TOKENS = "underlay-tokens"
STATE = "underlays.json"
TOKEN_TTL = 600.0  # seconds: without the agent refreshing it (every 120 s), a hand-made change is seen this late
BEFORE = "before_network_setup"
FAILED = "after_network_setup_fail"


def state_dir(environ) -> str:
    return environ.get(STATE_DIR_ENV) or DEFAULT_STATE_DIR


def netconf_dir(environ) -> str:
    return environ.get(NETCONF_ENV) or DEFAULT_NETCONF_DIR


def stamp(environ) -> str:
    """What the token file was computed from: the modification times of
    the host config, VDSM's running nets and bonds, our underlay state."""
    from vif_driver.hook.ownership import config_path
    paths = (config_path(environ), os.path.join(netconf_dir(environ), "nets"),
             os.path.join(netconf_dir(environ), "bonds"), os.path.join(state_dir(environ), STATE))
    parts = []
    for path in paths:
        try:
            parts.append(str(os.stat(path).st_mtime_ns))
        except OSError:
            parts.append("-")
    return " ".join(parts)


def may_touch(raw: bytes, environ) -> bool:
    """Whether the request may concern an underlay (then the full check
    runs). False only when a fresh token file says no name in it is ours."""
    if b'"underlay"' in raw:
        return True
    path = os.path.join(state_dir(environ), TOKENS)
    try:
        with open(path, "rb") as f:
            lines = f.read().split(b"\n")
        age = time.time() - os.stat(path).st_mtime
    except OSError:
        return True
    if not lines or lines[0].decode("ascii", "replace") != "v1 " + stamp(environ) or not 0 <= age < TOKEN_TTL:
        return True
    return any(token and b'"' + token + b'"' in raw for token in lines[1:])


def in_rollback(raw: bytes) -> bool:
    """VDSM re-runs setupNetworks with options._inRollback true to restore
    the host: a rollback is never refused."""
    return b'"_inRollback": true' in raw or b'"_inRollback":true' in raw


def main(hook_point: str, point, environ) -> int:
    """Exit code of one network-setup hook run. Our own failures (VDSM's
    request unreadable, the config, a backend, a bug) never block the
    host's network: before_network_setup exits 0 with one warning line
    (point.fail_code), the after hooks 1; only a refusal exits 2."""
    from vif_driver.hook.entry import _say
    if hook_point == FAILED:
        # Nothing is changed before a setup succeeded (the before hook only
        # refuses or passes), so there is nothing to undo: one line for the log.
        _say(f"vif-driver {hook_point}: nothing to undo (vif-driver changes the host only after a "
             "successful network setup)")
        return 0
    try:
        return _check(hook_point, point, environ)
    except Exception as e:  # noqa: BLE001 - a bug or a broken install of ours must not lock the host's network
        if environ.get("VIF_DRIVER_DEBUG"):
            import traceback
            traceback.print_exc()
        _say(f"vif-driver {hook_point}: internal error {type(e).__name__}: {e}{unchecked(hook_point)} "
             "(set debug = true in [vif-driver] for a traceback)")
        return point.fail_code


def unchecked(hook_point: str) -> str:
    """What a failure of ours at this point means for the setup, for its line."""
    return "; the network setup goes on unchecked" if hook_point == BEFORE else ""


def _check(hook_point: str, point, environ) -> int:
    from vif_driver.hook.entry import _read, _say
    path = environ.get(point.env_var)
    text = _read(path) if path else (f"${point.env_var} is not set; run this from VDSM or `vif-driver replay`",)
    if not isinstance(text, str):
        where = f"cannot read ${point.env_var} file {path}: " if path else ""
        _say(f"vif-driver {hook_point}: {where}{text[0]}{unchecked(hook_point)}")
        return point.fail_code
    raw = text.encode("utf-8")
    if hook_point == BEFORE and in_rollback(raw):
        return 0
    if not may_touch(raw, environ):
        return 0
    from vif_driver.core import config
    try:
        cfg = config.load(environ)
    except config.ConfigError as e:
        _say(f"vif-driver {hook_point}: {e}{unchecked(hook_point)}")
        return point.fail_code  # our config never blocks the host's network
    if not cfg.plugin_types:
        return 0
    from vif_driver.core import network_setup
    from vif_driver.hook.protocol import Request
    request = Request(hook_point, text, dict(environ), dry_run=environ.get("VIF_DRIVER_DRY_RUN") == "1")
    try:
        response = network_setup.handle(request, cfg)
    except Exception:
        if cfg.debug and not environ.get("VIF_DRIVER_DEBUG"):  # else main prints it
            import traceback
            traceback.print_exc()
        raise
    for message in response.messages:
        _say(message)
    if request.dry_run or cfg.debug:
        for action in response.actions:
            _say(("dry-run: " if request.dry_run else "done: ") + action)
    return response.exit_code

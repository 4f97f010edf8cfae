"""What a hook entrypoint runs: VDSM's side of the hook protocol.

Every NIC's every hook starts a fresh interpreter here, so the path for a
vNIC that is not ours touches nothing but os and sys: an environment check
for vNIC hooks (provider_type), then, for EXTERNAL_NETWORK vNICs,
ownership.may_map (is the plugin_type a built-in one or in the config file's
text at all?).

Then, when the agent's socket is there ($VIF_DRIVER_AGENT_SOCKET, else
/run/vif-driver/agent.sock; never agent_socket of the config), the hook
sends the data and its environment and applies the answer without
parsing the host config at all: the agent (root, config loaded, re-read
when it changes) decides ownership, the deadline, capture_dir and debug.
Without an agent the host config is parsed here (configparser), and only
an owned call goes on to dispatch in this process (root) or to the one-line
"start the agent" failure (unprivileged).

Exit codes are the hook point's (hookpoints.HookPoint.fail_code): a plug
before-hook fails with 2, a teardown before-hook never fails (0 and one
warning line, whatever went wrong), an after-hook with 1.
"""

from __future__ import annotations

import os
import sys

from vif_driver.hook.ownership import AGENT_START_HINT, agent_socket_path, may_map
from vif_driver.hook.points import HOOK_POINTS

DRY_RUN_ENV = "VIF_DRIVER_DRY_RUN"
CAPTURE_ENV = "VIF_DRIVER_CAPTURE_DIR"
# Development: answer in this process, never through the agent, even
# unprivileged (validation and rewrites need no privilege; a driver then
# fails at its first host change with its own error).
IN_PROCESS_ENV = "VIF_DRIVER_IN_PROCESS"


def main(hook_point: str, environ=None) -> int:
    environ = os.environ if environ is None else environ
    point = HOOK_POINTS.get(hook_point)
    if point is None:
        _say(f"vif-driver: installed in unsupported hook directory {hook_point!r}; nothing done")
        return 0
    if environ.get(CAPTURE_ENV):
        _capture(environ[CAPTURE_ENV], hook_point, point, environ)
    if not point.json and environ.get("provider_type") != "EXTERNAL_NETWORK":
        return 0
    try:
        if point.call == "network_setup":  # root in supervdsm: in this process (hook/netsetup.py)
            from vif_driver.hook import netsetup
            return netsetup.main(hook_point, point, environ)
        return _run(hook_point, point, environ)
    except Exception as e:  # noqa: BLE001 - VDSM must get an exit code, not a traceback
        if environ.get("VIF_DRIVER_DEBUG"):
            raise
        _say(f"vif-driver {hook_point}: internal error {type(e).__name__}: {e}")
        return point.fail_code


def _run(hook_point, point, environ) -> int:
    if not point.json and not may_map(environ.get("plugin_type"), environ):
        return 0
    path = environ.get(point.env_var)
    dry_run = environ.get(DRY_RUN_ENV) == "1"
    socket_path = agent_socket_path(environ)
    present = environ.get(IN_PROCESS_ENV) != "1" and _is_socket(socket_path)
    if present and path:
        text = _read(path)
        if isinstance(text, str):  # else: not ours, or an error, said below after the config
            from vif_driver.hook import client  # only with an agent
            from vif_driver.hook.protocol import Request
            request = Request(hook_point, text, dict(environ), dry_run=dry_run)
            try:
                response = client.call(request, socket_path)
            except client.AgentError as e:
                _say(f"vif-driver {hook_point}: {e}")
                return point.fail_code
            if response is not None:
                return _apply(hook_point, point, path, request, response, response.debug)
            # nobody listens (a stale socket): as without an agent, config first

    from vif_driver.core import config
    try:
        cfg = config.load(environ)
    except config.ConfigError as e:
        _say(f"vif-driver {hook_point}: {e}")
        return point.fail_code
    if point.json:
        if not cfg.plugin_types:
            return 0
    elif cfg.driver_for(environ.get("plugin_type")) is None:
        return 0
    data = read_data(hook_point, point, path)
    if not isinstance(data, str):
        return data
    if cfg.capture_dir and not environ.get(CAPTURE_ENV):
        _capture(cfg.capture_dir, hook_point, point, environ)

    from vif_driver.hook.protocol import Request
    request = Request(hook_point, data, dict(environ), dry_run=dry_run)
    response = call(request, cfg, socket_path if present else None)
    return _apply(hook_point, point, path, request, response, getattr(response, "debug", cfg.debug))


def _read(path: str) -> str | tuple[str]:
    """The data file's text, or (why not,) for the message."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
        return raw.decode("utf-8")
    except OSError as e:
        return (f"{e.strerror or e}; VDSM creates it for each run, readable by the hook's user "
                f"(uid {os.geteuid()})",)
    except UnicodeDecodeError as e:
        return (f"not UTF-8 (byte 0x{raw[e.start]:02x} at offset {e.start}); VDSM writes UTF-8: "
                "check the scripts before ours",)


def _apply(hook_point, point, path, request, response, debug: bool) -> int:
    """What a Response asks of the hook: its lines on stderr, the actions
    in a dry run or with debug, the file rewritten, the exit code."""
    for message in response.messages:
        _say(message)
    prefix = "dry-run: " if request.dry_run else "done: "  # api.record marks writes "would ..."
    if request.dry_run or debug:
        for action in response.actions:
            _say(prefix + action)
    raw = getattr(response, "raw", None)  # an agent's answer: its data's bytes as received
    if raw is None and response.data is not None:
        raw = response.data.encode("utf-8")
    if raw is not None and point.writes and (point.json or response.exit_code == 0):
        try:
            write_atomically(path, raw)
        except OSError as e:
            _say(f"vif-driver {hook_point}: cannot write ${point.env_var} file {path}: {e}")
            return point.fail_code
    return response.exit_code


def call(request, cfg, socket_path: str | None = None):
    """Answer the request without an agent found before: ``socket_path`` is
    one that refused the connection (None: none there or in-process), tried
    again here; then in this process if it may change the host's network,
    else fail with how to start the agent. The Response is the same as the
    agent's."""
    from vif_driver.hook.points import HOOK_POINTS
    from vif_driver.hook.protocol import Response

    point = HOOK_POINTS[request.hook_point]
    path = socket_path or agent_socket_path(request.properties)
    in_process = request.properties.get(IN_PROCESS_ENV) == "1"
    present = not in_process and _is_socket(path)
    if present:
        from vif_driver.hook import client
        try:
            response = client.call(request, path)
        except client.AgentError as e:
            return Response(point.fail_code, messages=[f"vif-driver {request.hook_point}: {e}"])
        if response is not None:
            return response
    if in_process or _privileged():
        from vif_driver.core import dispatch
        return dispatch.handle(request, cfg)
    state = "is not answering (connection refused)" if present else "is missing"
    message = (f"vif-driver {request.hook_point}: the agent socket {path} {state} and this hook runs "
               f"unprivileged (uid {os.geteuid()}); start the agent: {AGENT_START_HINT}")
    # Caps and stats polls degrade quietly (exit 0, one line, data as VDSM
    # made it), like a driver whose backend is down; vNIC hooks fail.
    return Response(0 if point.json else point.fail_code, messages=[message])


def _is_socket(path: str) -> bool:
    import stat
    try:
        return stat.S_ISSOCK(os.stat(path).st_mode)
    except OSError:
        return False


def _privileged() -> bool:
    """Root, or CAP_NET_ADMIN (OVSDB and netlink changes need it)."""
    if os.geteuid() == 0:
        return True
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("CapEff:"):
                    return bool(int(line.split()[1], 16) >> 12 & 1)  # CAP_NET_ADMIN
    except (OSError, ValueError, IndexError):
        pass
    return False


def read_data(hook_point: str, point, path: str | None) -> str | int:
    """The text of the hook's data file, or (after one line saying why
    not) the exit code to return."""
    if not path:
        _say(f"vif-driver {hook_point}: ${point.env_var} is not set; run this from VDSM or `vif-driver replay`")
        return point.fail_code
    text = _read(path)
    if not isinstance(text, str):
        _say(f"vif-driver {hook_point}: cannot read ${point.env_var} file {path}: {text[0]}")
        return point.fail_code
    return text


def write_atomically(path: str, data: bytes | memoryview) -> None:
    """Replace the file in one step, so VDSM reads either the old content or
    the complete new one, never a half-written file."""
    tmp = f"{path}.vif-driver-{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _capture(directory, hook_point, point, environ):
    """Save this run as a replayable fixture; never fails the hook."""
    try:
        from vif_driver.tools import capture
        capture.save(directory, hook_point, point, environ)
    except Exception as e:  # noqa: BLE001 - a debugging aid must not break VDSM
        _say(f"vif-driver {hook_point}: capture to {directory} failed: {e}")


def _say(line: str) -> None:
    """One line on stderr (VDSM logs it and shows it upward)."""
    from vif_driver.hook.protocol import one_line  # no imports of its own
    sys.stderr.write(one_line(line) + "\n")

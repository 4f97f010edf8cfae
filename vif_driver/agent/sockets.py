"""The agent's listening socket: from systemd (socket activation) or made
here for ``--listen``; and systemd's readiness notification. Standard
library only, as systemd's own helpers would be (no libsystemd binding)."""

from __future__ import annotations

import logging
import os
import socket
import stat

log = logging.getLogger(__name__)

SD_LISTEN_FDS_START = 3


def activated_socket() -> socket.socket | None:
    """The listening socket systemd passed (sd_listen_fds), or None."""
    if os.environ.get("LISTEN_PID") != str(os.getpid()):
        return None
    count = int(os.environ.get("LISTEN_FDS", "0") or 0)
    for var in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"):
        os.environ.pop(var, None)  # not for our children
    if count != 1:
        raise SystemExit(f"vif-driverd: expected 1 socket from systemd, got {count}; "
                         "the .socket unit must have one ListenStream=")
    sock = socket.socket(fileno=SD_LISTEN_FDS_START)
    if sock.family != socket.AF_UNIX or sock.type != socket.SOCK_STREAM:
        raise SystemExit("vif-driverd: the socket from systemd is not a unix stream socket")
    os.set_inheritable(sock.fileno(), False)
    return sock


def listen(path: str, group: str | None, mode: int) -> socket.socket:
    """Bind ``path`` (replacing a stale socket, never another file) with
    ``mode`` and ``group``, like the .socket unit's SocketMode/SocketGroup."""
    os.makedirs(os.path.dirname(path) or ".", mode=0o755, exist_ok=True)
    try:
        if stat.S_ISSOCK(os.lstat(path).st_mode):
            os.unlink(path)
    except FileNotFoundError:
        pass
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)
    try:
        sock.bind(path)
    finally:
        os.umask(old)
    if group:
        import grp
        os.chown(path, -1, grp.getgrnam(group).gr_gid)
    os.chmod(path, mode)
    sock.listen(128)
    return sock


def socket_group(cfg, wanted: str | None) -> str | None:
    """--socket-group, else the first configured group this host has, else
    the primary group of the first configured user: who may connect."""
    import grp
    import pwd
    if wanted:
        return wanted
    for group in cfg.agent_groups:
        try:
            return grp.getgrnam(group).gr_name
        except KeyError:
            pass
    for user in cfg.agent_users:
        try:
            return grp.getgrgid(pwd.getpwnam(user).pw_gid).gr_name
        except KeyError:
            pass
    return None


def sd_notify(state: str) -> None:
    """Tell systemd (Type=notify) we are ready; a no-op outside systemd."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return
    if address.startswith("@"):
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
            s.connect(address)
            s.sendall(state.encode())
    except OSError as e:
        log.warning("sd_notify failed: %s", e)

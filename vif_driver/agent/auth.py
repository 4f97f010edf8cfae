"""Who may talk to the agent: root and the configured users and groups,
decided from the kernel's view of the peer (SO_PEERCRED), never from what
the peer says about itself."""

from __future__ import annotations

import grp
import pwd
import socket
import struct

_UCRED = struct.Struct("3i")  # struct ucred: pid, uid, gid


class Peer:
    __slots__ = ("pid", "uid", "gid")

    def __init__(self, pid: int, uid: int, gid: int):
        self.pid, self.uid, self.gid = pid, uid, gid

    def __str__(self) -> str:
        return f"pid {self.pid} uid {self.uid} ({_user_name(self.uid) or '?'}) gid {self.gid}"


def peer_of(conn: socket.socket) -> Peer:
    return Peer(*_UCRED.unpack(conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)))


def allowed(peer: Peer, users, groups) -> bool:
    """Root; a user named in ``users``; a process whose gid is one of
    ``groups``; or a user listed as a member of one of them. Names that do
    not exist on this host match nobody. Looked up per connection, so
    changes to /etc/passwd and /etc/group apply at once."""
    if peer.uid == 0:
        return True
    name = _user_name(peer.uid)
    if name is not None and name in users:
        return True
    for group in groups:
        try:
            entry = grp.getgrnam(group)
        except KeyError:
            continue
        if peer.gid == entry.gr_gid or (name is not None and name in entry.gr_mem):
            return True
        if name is not None and _primary_gid(name) == entry.gr_gid:
            return True
    return False


def missing_names(users, groups) -> list[str]:
    """Configured users and groups this host does not have (for the log)."""
    missing = []
    for user in users:
        try:
            pwd.getpwnam(user)
        except KeyError:
            missing.append(f"user {user}")
    for group in groups:
        try:
            grp.getgrnam(group)
        except KeyError:
            missing.append(f"group {group}")
    return missing


def _user_name(uid: int) -> str | None:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return None


def _primary_gid(name: str) -> int | None:
    try:
        return pwd.getpwnam(name).pw_gid
    except KeyError:
        return None

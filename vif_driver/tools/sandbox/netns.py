"""Network-namespace sandboxes for tests, benchmarks and `vif-driver demo`.

Everything here happens inside namespaces this module creates, never in the
host's own: a veth pair stands in for a physical NIC, taps for VM NICs.
Commands are argv lists run with `ip netns exec` and a timeout; nothing
goes through a shell. Needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN).
"""

from __future__ import annotations

import os
import re
import subprocess
import uuid

from vif_driver.core import validate

DEFAULT_TIMEOUT = 10.0
# A test run (or any caller) sets this to a short tag; every namespace name
# made here then carries it, so a run can find what it left behind without
# looking at another run's namespaces.
RUN_TAG_ENV = "VIF_SANDBOX_TAG"
_TAG = re.compile(r"[a-z0-9]{1,8}")
_NAME = validate.NAME
_IFNAME = validate.IFNAME


class SandboxError(Exception):
    """A sandbox command failed; the message holds the command and its stderr."""


def _check(regex, value: str, what: str) -> str:
    if not validate.matches(regex, value):
        raise ValueError(f"{value!r} is not a valid {what}")
    return value


def _ip() -> str:
    for path in ("/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"):
        if os.path.exists(path):
            return path
    return "ip"


def run(argv: list[str], *, timeout: float = DEFAULT_TIMEOUT, check: bool = True,
        input: bytes | None = None) -> subprocess.CompletedProcess:
    """Run argv (a list, never a shell string) with a timeout."""
    if isinstance(argv, (str, bytes)):
        raise TypeError("argv must be a list of arguments, not a string")
    try:
        proc = subprocess.run(list(argv), input=input, capture_output=True, timeout=timeout, check=False,
                              stdin=None if input is not None else subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise SandboxError(f"{' '.join(argv)}: no answer within {timeout:g} s") from None
    if check and proc.returncode != 0:
        raise SandboxError(f"{' '.join(argv)}: exit code {proc.returncode}: "
                           f"{proc.stderr.decode(errors='replace').strip()}")
    return proc


def run_tag() -> str:
    """$VIF_SANDBOX_TAG if it is a valid tag (1-8 lowercase letters and
    digits), else ''."""
    tag = os.environ.get(RUN_TAG_ENV, "")
    return tag if validate.matches(_TAG, tag) else ""


def tagged(name: str) -> str:
    """``name`` with the run tag appended (``name-TAG``), if there is one."""
    tag = run_tag()
    return f"{name}-{tag}" if tag else name


def unique_name(prefix: str = "vifns") -> str:
    """A namespace name unlikely to clash with a parallel test run; it ends
    with the run tag when one is set."""
    return tagged(f"{prefix}-{os.getpid()}-{uuid.uuid4().hex[:6]}")


class Namespace:
    """A named network namespace (`ip netns add`), removed on close.

    ``with Namespace() as ns: ns.ip("link", "show")``
    """

    def __init__(self, name: str | None = None, *, timeout: float = DEFAULT_TIMEOUT):
        self.name = _check(_NAME, name or unique_name(), "namespace name")
        self.timeout = timeout
        self.created = False

    def __enter__(self) -> Namespace:
        return self.create()

    def __exit__(self, *exc) -> None:
        self.delete()

    def create(self) -> Namespace:
        run([_ip(), "netns", "add", self.name], timeout=self.timeout)
        self.created = True
        self.ip("link", "set", "lo", "up")
        return self

    def delete(self) -> None:
        """Remove the namespace and every device in it; idempotent."""
        if os.path.exists(os.path.join("/run/netns", self.name)):
            run([_ip(), "netns", "delete", self.name], timeout=self.timeout, check=False)
        self.created = False

    @property
    def path(self) -> str:
        return os.path.join("/run/netns", self.name)

    def exec(self, argv: list[str], *, timeout: float | None = None, check: bool = True,
             input: bytes | None = None) -> subprocess.CompletedProcess:
        """Run argv inside the namespace (`ip netns exec`, which also
        remounts /sys for it)."""
        return run([_ip(), "netns", "exec", self.name] + list(argv), timeout=timeout or self.timeout,
                   check=check, input=input)

    def ip(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return run([_ip(), "-n", self.name] + list(args), timeout=self.timeout, check=check)

    def exists(self, ifname: str) -> bool:
        return self.ip("link", "show", "dev", _check(_IFNAME, ifname, "interface name"),
                       check=False).returncode == 0

    def links(self) -> dict[str, dict]:
        """name -> `ip -j -d link` record of every device in the namespace."""
        import json
        out = self.ip("-j", "-d", "link", "show").stdout
        return {link["ifname"]: link for link in json.loads(out or b"[]")}

    def veth(self, name: str, peer: str, peer_ns: Namespace | None = None, *, up: bool = True) -> None:
        """A veth pair; the peer end moves to ``peer_ns`` when given."""
        _check(_IFNAME, name, "interface name")
        _check(_IFNAME, peer, "interface name")
        args = ["link", "add", name, "type", "veth", "peer", "name", peer]
        if peer_ns is not None:
            args += ["netns", peer_ns.name]
        self.ip(*args)
        if up:
            self.ip("link", "set", name, "up")
            (peer_ns or self).ip("link", "set", peer, "up")

    def tap(self, name: str, *, master: str | None = None, up: bool = True) -> None:
        """A persistent tap, as libvirt would create for a VM NIC; optionally
        attached to a bridge (what libvirt does for <interface type='bridge'>)."""
        self.ip("tuntap", "add", "dev", _check(_IFNAME, name, "interface name"), "mode", "tap")
        if master:
            self.ip("link", "set", name, "master", _check(_IFNAME, master, "bridge name"))
        if up:
            self.ip("link", "set", name, "up")

    def bridge(self, name: str, *, up: bool = True) -> None:
        self.ip("link", "add", _check(_IFNAME, name, "bridge name"), "type", "bridge")
        if up:
            self.ip("link", "set", name, "up")

    def move(self, ifname: str, target: Namespace) -> None:
        """Move a device into another namespace (e.g. a veth end into a 'guest')."""
        self.ip("link", "set", _check(_IFNAME, ifname, "interface name"), "netns", target.name)

    def address(self, ifname: str, cidr: str) -> None:
        self.ip("addr", "add", cidr, "dev", _check(_IFNAME, ifname, "interface name"))

    def delete_link(self, ifname: str) -> None:
        self.ip("link", "del", _check(_IFNAME, ifname, "interface name"), check=False)

    def ping(self, address: str, *, count: int = 3, timeout: float = 10.0) -> bool:
        """True if ``address`` answers from inside this namespace."""
        proc = self.exec(["ping", "-c", str(count), "-i", "0.2", "-W", "2", address],
                         timeout=timeout, check=False)
        return proc.returncode == 0


def kernel_supports(kind: str) -> bool:
    """Whether the kernel can create devices of this kind (e.g. 'vlan' needs
    8021q), tried in a throw-away namespace."""
    with Namespace(unique_name("vifprobe")) as ns:
        ns.veth("probe0", "probe1")
        if kind == "vlan":
            args = ["link", "add", "link", "probe0", "name", "probe0.7", "type", "vlan", "id", "7"]
        else:
            args = ["link", "add", "probe2", "type", kind]
        return ns.ip(*args, check=False).returncode == 0

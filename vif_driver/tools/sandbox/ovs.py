"""A throw-away Open vSwitch: ovsdb-server and ovs-vswitchd in a temp dir.

ovs-vswitchd runs inside a network namespace created for it, bridges use
the userspace ``netdev`` datapath, so no kernel module is needed and no tap
or internal port ever shows up in the host's namespace. Used by the tests,
the benchmark and `vif-driver demo`; it also plays libvirt's part (a tap
added as an OVS port with the external_ids libvirt sets).

    with OvsSandbox() as ovs:
        ovs.add_bridge("br-int")
        ovs.plug_tap("tap6a9f5e2b-71", iface_id=VNIC, mac="00:1a:4a:16:01:51", vm_id=VM)

Also a small command line to keep one running between shell commands:
``python -m vif_driver.tools.sandbox.ovs start|plug|unplug|stop DIR``. ``start``
is idempotent: a running sandbox in DIR is reported and left as it is, a
stopped (or crashed) one is started afresh with its namespace name and
system-id.
Standard library only; every command has a timeout.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid

from vif_driver.core import validate

SCHEMA = "/usr/share/openvswitch/vswitch.ovsschema"
STATE_FILE = "sandbox.json"
_IFNAME = validate.IFNAME
_VALUE = re.compile(r"[A-Za-z0-9_.:-]{1,64}")


class SandboxError(Exception):
    """A sandbox command failed; the message names the command and its stderr."""


def _check(pattern, value, what):
    if not validate.matches(pattern, value):
        raise ValueError(f"{what} {value!r} is not valid")
    return value


def _tool(name: str) -> str:
    path = shutil.which(name) or (f"/usr/sbin/{name}" if os.path.exists(f"/usr/sbin/{name}") else None)
    if not path:
        raise SandboxError(f"'{name}' is not installed (Open vSwitch / iproute2 are needed)")
    return path


class OvsSandbox:
    """One throw-away Open vSwitch. ``directory`` holds the database, the
    sockets, pid and log files; without one a temp dir is made (and removed
    by stop())."""

    def __init__(self, directory: "str | None" = None, *, netns: "str | None" = None,
                 system_id: "str | None" = None):
        self._own_dir = directory is None
        self.dir = os.path.abspath(directory or tempfile.mkdtemp(prefix="vif-ovs-"))
        from vif_driver.tools.sandbox.netns import tagged
        self.netns = netns or tagged("vifovs-" + uuid.uuid4().hex[:8])
        self.system_id = system_id or str(uuid.uuid4())
        self.db_socket = os.path.join(self.dir, "db.sock")
        self._paused = False

    # -- paths and environment -------------------------------------------------
    @property
    def remote(self) -> str:
        """The OVSDB connection string (the driver's ``ovsdb`` option)."""
        return "unix:" + self.db_socket

    def _path(self, name: str) -> str:
        return os.path.join(self.dir, name)

    @property
    def env(self) -> "dict[str, str]":
        env = dict(os.environ)
        for var in ("OVS_RUNDIR", "OVS_LOGDIR", "OVS_DBDIR", "OVS_SYSCONFDIR"):
            env[var] = self.dir
        return env

    def _run(self, argv, timeout: float = 10, check: bool = True) -> str:
        try:
            proc = subprocess.run(argv, env=self.env, stdin=subprocess.DEVNULL, capture_output=True,
                                  text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            raise SandboxError(f"{' '.join(argv)}: no answer within {timeout} s") from None
        if check and proc.returncode != 0:
            raise SandboxError(f"{' '.join(argv)}: exit code {proc.returncode}: {proc.stderr.strip()}")
        return proc.stdout

    def _in_netns(self, argv):
        return [_tool("ip"), "netns", "exec", self.netns] + argv

    # -- life cycle ---------------------------------------------------------------
    def running(self) -> bool:
        """Whether a daemon of this sandbox is running."""
        return bool(self.pid("ovsdb-server") or self.pid("ovs-vswitchd"))

    def start(self, timeout: float = 20) -> "OvsSandbox":
        """Start both daemons with an empty database. What a stopped or
        crashed sandbox left in the directory (database, pid files, sockets,
        its namespace) is removed first; a running one is an error."""
        if self.running():
            raise SandboxError(f"a sandbox is already running in {self.dir}; stop it first")
        os.makedirs(self.dir, exist_ok=True)
        self._remove_leftovers()
        with open(self._path(STATE_FILE), "w", encoding="utf-8") as f:
            json.dump({"netns": self.netns, "system_id": self.system_id}, f)
        try:
            self._run([_tool("ip"), "netns", "add", self.netns])
            self._run([_tool("ip"), "-n", self.netns, "link", "set", "lo", "up"])
            self._run([_tool("ovsdb-tool"), "create", self._path("conf.db"), SCHEMA])
            self._run([_tool("ovsdb-server"), self._path("conf.db"), "--remote=punix:" + self.db_socket,
                       "--unixctl=" + self._path("ovsdb-server.ctl"),
                       "--pidfile=" + self._path("ovsdb-server.pid"),
                       "--log-file=" + self._path("ovsdb-server.log"), "--detach", "--no-chdir"],
                      timeout=timeout)
            self.vsctl("init", "--", "set", "Open_vSwitch", ".",
                       f"external_ids:system-id={self.system_id}", "external_ids:hostname=vif-sandbox",
                       wait=False)
            self.start_vswitchd(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _remove_leftovers(self) -> None:
        for name in ("conf.db", ".conf.db.~lock~", "db.sock", "ovsdb-server.pid", "ovs-vswitchd.pid",
                     "ovsdb-server.ctl", "ovs-vswitchd.ctl"):
            try:
                os.unlink(self._path(name))
            except FileNotFoundError:
                pass
        if self.netns in _netns_list():
            self._run([_tool("ip"), "netns", "del", self.netns], check=False)

    def start_vswitchd(self, timeout: float = 20) -> None:
        """Start ovs-vswitchd in the namespace and wait until it has applied
        the database (``ovs-vsctl`` waits for its cur_cfg)."""
        self._run(self._in_netns([_tool("ovs-vswitchd"), self.remote,
                                  "--unixctl=" + self._path("ovs-vswitchd.ctl"),
                                  "--pidfile=" + self._path("ovs-vswitchd.pid"),
                                  "--log-file=" + self._path("ovs-vswitchd.log"),
                                  "--detach", "--no-chdir", "--disable-system"]), timeout=timeout)
        self.vsctl("set", "Open_vSwitch", ".", "other_config:stats-update-interval=1000",
                   timeout=timeout)

    def stop_vswitchd(self, timeout: float = 10) -> None:
        self._stop_daemon("ovs-vswitchd", timeout, ["exit", "--cleanup"])

    def pause_db(self) -> None:
        """SIGSTOP ovsdb-server: it keeps accepting connections but never
        answers (a hung switch, for timeout tests)."""
        pid = self._pid("ovsdb-server")
        if pid is None:
            raise SandboxError(f"no ovsdb-server pid in {self.dir}: is the sandbox started?")
        os.kill(pid, signal.SIGSTOP)
        self._paused = True

    def resume_db(self) -> None:
        pid = self._pid("ovsdb-server")
        if pid:
            os.kill(pid, signal.SIGCONT)
        self._paused = False

    def stop(self) -> None:
        """Stop both daemons, delete the namespace (and its taps) and the
        temp dir; safe to call twice or after a failed start."""
        if self._paused or os.path.exists(self._path("ovsdb-server.pid")):
            try:
                self.resume_db()
            except (OSError, ValueError):
                pass
        self._stop_daemon("ovs-vswitchd", 10, ["exit", "--cleanup"])
        self._stop_daemon("ovsdb-server", 10, ["exit"])
        if self.netns in _netns_list():
            self._run([_tool("ip"), "netns", "del", self.netns], check=False)
        if self._own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> "OvsSandbox":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @classmethod
    def attach(cls, directory: str) -> "OvsSandbox":
        """The sandbox started earlier in ``directory`` (command line use)."""
        with open(os.path.join(directory, STATE_FILE), encoding="utf-8") as f:
            state = json.load(f)
        return cls(directory, netns=state["netns"], system_id=state["system_id"])

    def _pid(self, daemon: str) -> "int | None":
        return daemon_pid(self._path(daemon + ".pid"))

    def pid(self, daemon: str) -> "int | None":
        """The process id of ``ovsdb-server`` or ``ovs-vswitchd`` if running."""
        pid = self._pid(daemon)
        return pid if pid and _alive(pid) else None

    def _stop_daemon(self, daemon: str, timeout: float, command) -> None:
        pid = self._pid(daemon)
        if not pid or not _alive(pid):
            return
        ctl = self._path(daemon + ".ctl")
        self._run([_tool("ovs-appctl"), "-t", ctl, "--timeout=" + str(int(timeout))] + command,
                  timeout=timeout + 2, check=False)
        deadline = time.monotonic() + timeout
        for sig in (None, signal.SIGTERM, signal.SIGKILL):
            if sig is not None:
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    return
                deadline = time.monotonic() + 3
            while time.monotonic() < deadline:
                if not _alive(pid):
                    return
                time.sleep(0.02)

    # -- switch operations --------------------------------------------------------
    def vsctl(self, *args: str, timeout: float = 10, wait: bool = True) -> str:
        """Run ovs-vsctl against this sandbox; ``wait``: until ovs-vswitchd
        applied the change."""
        argv = [_tool("ovs-vsctl"), "--db=" + self.remote, f"--timeout={int(max(1, timeout))}"]
        if not wait:
            argv.append("--no-wait")
        return self._run(argv + list(args), timeout=timeout + 2)

    def add_bridge(self, name: str = "br-int") -> None:
        _check(_IFNAME, name, "bridge name")
        self.vsctl("--may-exist", "add-br", name, "--", "set", "Bridge", name, "datapath_type=netdev")

    def del_bridge(self, name: str) -> None:
        _check(_IFNAME, name, "bridge name")
        self.vsctl("--if-exists", "del-br", name)

    def plug_tap(self, dev: str, *, iface_id: str, mac: str, vm_id: str, bridge: str = "br-int",
                 status: str = "active", wait: bool = True, create_devices: bool = True) -> None:
        """Libvirt's part of starting a VM NIC with <virtualport type='openvswitch'>:
        create the tap, add it to the bridge with the external_ids libvirt sets."""
        self.plug_taps([(dev, iface_id, mac, vm_id)], bridge=bridge, status=status, wait=wait,
                       create_devices=create_devices)

    def plug_taps(self, entries, *, bridge: str = "br-int", status: str = "active",
                  wait: bool = True, create_devices: bool = True) -> None:
        """plug_tap for many (dev, iface_id, mac, vm_id) at once: one ``ip
        -batch`` and one OVSDB transaction. Without ``create_devices`` only
        the OVSDB rows are made (ovs-vswitchd then reports ofport -1)."""
        _check(_IFNAME, bridge, "bridge name")
        entries = [(_check(_IFNAME, d, "device"), _check(_VALUE, i, "iface-id"),
                    _check(_VALUE, m, "mac"), _check(_VALUE, v, "vm-id")) for d, i, m, v in entries]
        if create_devices:
            existing = set(self._netns_links())
            lines = [f"tuntap add mode tap name {d}\nlink set {d} up\n"
                     for d, _, _, _ in entries if d not in existing]
            if lines:
                self._ip_batch("".join(lines))
        args = []
        for dev, iface_id, mac, vm_id in entries:
            args += ["--", "--if-exists", "del-port", dev, "--", "add-port", bridge, dev,
                     "--", "set", "Interface", dev, f'external_ids:attached-mac="{mac}"',
                     f'external_ids:iface-id="{iface_id}"', f'external_ids:vm-id="{vm_id}"',
                     f"external_ids:iface-status={_check(_VALUE, status, 'status')}"]
        self.vsctl(*args, timeout=max(10, len(entries) / 20), wait=wait)

    def unplug_tap(self, dev: str) -> None:
        """Libvirt's part of removing a NIC: the port and the tap."""
        _check(_IFNAME, dev, "device")
        self.vsctl("--if-exists", "del-port", dev)
        if dev in self._netns_links():
            self._run([_tool("ip"), "-n", self.netns, "tuntap", "del", "mode", "tap", "name", dev])

    def ports(self, bridge: str = "br-int") -> "list[str]":
        _check(_IFNAME, bridge, "bridge name")
        return self.vsctl("list-ports", bridge, wait=False).split()

    def interface(self, name: str) -> "dict | None":
        """One Interface row as {column: value} (ovs-vsctl's JSON), or None."""
        _check(_IFNAME, name, "interface name")
        out = self.vsctl("--format=json", "--columns=name,ofport,external_ids,error",
                         "find", "Interface", f"name={name}", wait=False)
        doc = json.loads(out)
        if not doc["data"]:
            return None
        row = dict(zip(doc["headings"], doc["data"][0]))
        if row.get("external_ids", [None])[0] == "map":
            row["external_ids"] = dict(row["external_ids"][1])
        return row

    def _netns_links(self) -> "list[str]":
        out = self._run([_tool("ip"), "-n", self.netns, "-o", "link", "show"])
        return [line.split(":")[1].strip().split("@")[0] for line in out.splitlines() if ":" in line]

    def _ip_batch(self, text: str) -> None:
        with tempfile.NamedTemporaryFile("w", dir=self.dir, suffix=".ip") as f:
            f.write(text)
            f.flush()
            self._run([_tool("ip"), "-n", self.netns, "-batch", f.name], timeout=120)

    def write_config(self, path: str, *, bridge: str = "br-int", timeout: float = 5,
                     plug_timeout: float = 5, netns: bool = True) -> str:
        """A vif-driver host config pointing the ovs driver at this sandbox;
        only the OVS plugin types are mapped (no other driver runs).
        ``netns=False``: for hooks that run inside the sandbox's namespace."""
        with open(path, "w", encoding="utf-8") as f:
            f.write(f"[vif-driver]\ntimeout = {timeout}\n\n"
                    "[plugin_types]\nOPEN_VSWITCH = ovs\nOVIRT_PROVIDER_OVN = ovs\nLINUX_BRIDGE =\n\n"
                    f"[driver:ovs]\novsdb = {self.remote}\nbridge = {bridge}\nplug_timeout = {plug_timeout}\n"
                    + (f"netns = {self.netns}\n" if netns else ""))
        return path


def daemon_pid(pidfile: str) -> "int | None":
    """The pid in ``pidfile`` if that process is the daemon started with
    it (its command line names the file): the pid of a stale file may be
    anyone's by now, and stop() would signal it."""
    try:
        with open(pidfile, encoding="ascii") as f:
            pid = int(f.read().strip())
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = f.read().split(b"\0")
    except (OSError, ValueError):
        return None
    return pid if os.fsencode("--pidfile=" + pidfile) in argv else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie child is not running
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _netns_list() -> "list[str]":
    try:
        return os.listdir("/run/netns")
    except OSError:
        return []


def main(argv=None) -> int:
    import argparse
    parser = argparse.ArgumentParser(prog="python -m vif_driver.tools.sandbox.ovs",
                                     description="A throw-away Open vSwitch for trying vif-driver.")
    sub = parser.add_subparsers(dest="command", required=True)
    start = sub.add_parser("start", help="start one in DIR (again after a stop), add a bridge, "
                           "write DIR/vif-driver.conf; a running one is reported and kept")
    start.add_argument("dir")
    start.add_argument("--bridge", default="br-int")
    plug = sub.add_parser("plug", help="libvirt's part: add a tap port with its external_ids")
    plug.add_argument("dir")
    plug.add_argument("vnic_id")
    plug.add_argument("--mac", default="00:1a:4a:16:01:51")
    plug.add_argument("--vm-id", default="0b7c3a5e-8c2f-4f4b-9a6e-1d2c3b4a5f60")
    plug.add_argument("--bridge", default="br-int")
    unplug = sub.add_parser("unplug", help="libvirt's part: remove a tap port")
    unplug.add_argument("dir")
    unplug.add_argument("dev")
    stop = sub.add_parser("stop", help="stop the one in DIR and delete its namespace")
    stop.add_argument("dir")
    args = parser.parse_args(argv)
    try:
        if args.command == "start":
            if os.path.exists(os.path.join(args.dir, STATE_FILE)):
                box = OvsSandbox.attach(args.dir)  # same namespace name and system-id
                if box.running():
                    print(f"sandbox: already running in {box.dir} (ovsdb {box.remote}, namespace "
                          f"{box.netns}); `stop {args.dir}` first to start afresh", file=sys.stderr)
                    print(os.path.join(box.dir, "vif-driver.conf"))
                    return 0
                box.start()
            else:
                box = OvsSandbox(args.dir).start()
            box.add_bridge(args.bridge)
            print(box.write_config(os.path.join(box.dir, "vif-driver.conf"), bridge=args.bridge))
        elif args.command == "plug":
            box = OvsSandbox.attach(args.dir)
            dev = "tap" + args.vnic_id[:11]
            box.plug_tap(dev, iface_id=args.vnic_id, mac=args.mac, vm_id=args.vm_id, bridge=args.bridge)
            print(dev)
        elif args.command == "unplug":
            OvsSandbox.attach(args.dir).unplug_tap(args.dev)
        else:
            OvsSandbox.attach(args.dir).stop()
    except (SandboxError, ValueError, OSError) as e:
        print(f"sandbox: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

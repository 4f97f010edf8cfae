"""`vif-driver doctor`: check this host's vif-driver setup and say what to fix.

Each check prints one line, ``ok``, ``WARN`` or ``FAIL`` with the fix; the
exit code is 1 when anything failed (a warning alone keeps it 0). It only reads: files, the config, the agent's
socket (one harmless caps request) and OVSDB (one read through the driver's client).
"""

from __future__ import annotations

import grp
import os
import pwd
import stat
import sys

import click

from vif_driver.core import config as config_mod
from vif_driver.hook.points import HOOK_POINTS, NETWORK_SETUP
from vif_driver.tools.install import HOOKS_DIR, script_name, stale_scripts

START = config_mod.AGENT_START_HINT

# Other packages' VDSM hook scripts known to handle a plugin type, by file
# name: ovirt-provider-ovn-driver installs its rewrite as
# before_device_create/ and before_nic_hotplug/10_ovirt_provider_ovn_hook,
# the vhost-user variant as 20_ovirt_provider_ovn_vhostuser_hook in the same
# two points, and its binding host id as after_get_caps/ovirt_provider_ovn_hook.
KNOWN_HOOKS = {
    "10_ovirt_provider_ovn_hook": ("ovirt-provider-ovn-driver", ("OVIRT_PROVIDER_OVN",)),
    "20_ovirt_provider_ovn_vhostuser_hook": ("ovirt-provider-ovn-driver", ("OVIRT_PROVIDER_OVN",)),
    "ovirt_provider_ovn_hook": ("ovirt-provider-ovn-driver", ("OVIRT_PROVIDER_OVN",)),
}
_SCAN = 256 << 10  # bytes of an unknown hook script searched for plugin type names


class Report:
    def __init__(self):
        self.failed = 0

    def ok(self, text: str) -> None:
        click.echo(f"ok    {text}")

    def fail(self, text: str, fix: str) -> None:
        self.failed += 1
        click.echo(f"FAIL  {text}\n      fix: {fix}")

    def warn(self, text: str, fix: str) -> None:
        """Works, but wastefully or fragilely; does not fail the run."""
        click.echo(f"WARN  {text}\n      fix: {fix}")


def check_config(report: Report, path: str | None):
    env = dict(os.environ)
    if path:
        env[config_mod.CONFIG_ENV] = path
    shown = config_mod.config_path(env)
    try:
        cfg = config_mod.load(env)
    except config_mod.ConfigError as e:
        report.fail(str(e), f"correct {shown} (the commented default is in the vdsm-hook-vif-driver package)")
        return None
    report.ok(f"config {shown if cfg.path else shown + ' (absent: built-in defaults)'} is valid")
    return cfg


def _shebang(path: str) -> str:
    """The interpreter named by a script's first line, or ''."""
    try:
        with open(path, "rb") as f:
            first = f.readline(4096).decode("utf-8", "replace").strip()
    except OSError:
        return ""
    words = first[2:].split() if first.startswith("#!") else []
    return words[0] if words else ""


def install_interpreter(hooks_dir: str) -> str:
    """The interpreter to reinstall the entrypoints with: the one the
    installed entrypoints already use, when it runs, else the one running
    this command (a venv's, the package's), never a guess."""
    for point in sorted(HOOK_POINTS):
        interpreter = _shebang(os.path.join(hooks_dir, point, script_name(point)))
        if interpreter and os.access(interpreter, os.X_OK):
            return interpreter
    return sys.executable


def check_hooks(report: Report, hooks_dir: str, user: pwd.struct_passwd | None) -> None:
    missing, unusable, stale = [], [], []
    for point in sorted(HOOK_POINTS):
        stale.extend(stale_scripts(os.path.join(hooks_dir, point), point))
        path = os.path.join(hooks_dir, point, script_name(point))
        try:
            st = os.stat(path)
        except OSError:
            missing.append(point)
            continue
        if not stat.S_ISREG(st.st_mode) or not st.st_mode & 0o001 or not st.st_mode & 0o004:
            unusable.append(f"{path} (mode {stat.filemode(st.st_mode)})")
            continue
        interpreter = _shebang(path)
        if not os.access(interpreter, os.X_OK):
            unusable.append(f"{path} (interpreter {interpreter or 'missing'})")
    reinstall = f"vif-driver install-hooks --destdir / --interpreter {install_interpreter(hooks_dir)}"
    if missing:
        report.fail(f"hook entrypoints missing in {hooks_dir}: {', '.join(missing)}",
                    f"reinstall vdsm-hook-vif-driver, or: {reinstall}")
    if unusable:
        report.fail(f"hook entrypoints VDSM cannot run: {'; '.join(unusable)}",
                    f"chmod 0755 them (VDSM runs only executable regular files); for a missing interpreter: "
                    f"{reinstall}")
    if stale:
        report.fail(f"old vif-driver entrypoints VDSM runs as well, after VDSM's own scripts: {'; '.join(stale)}",
                    f"remove them (rm {' '.join(stale)}), or: {reinstall}")
    if not missing and not unusable and not stale:
        report.ok(f"{len(HOOK_POINTS)} hook entrypoints in {hooks_dir} are executable by "
                  f"{user.pw_name if user else 'everyone'}")


def hook_handlers(hooks_dir: str, cfg) -> dict[str, dict[tuple, list[str]]]:
    """plugin type -> (script, owner) -> the hook points it runs in, for
    every executable script VDSM would run in our hook points: ours for each
    mapped plugin type (owner "vif-driver"), the known scripts of other
    packages (KNOWN_HOOKS, owner: the package), and any other script that
    names a plugin type in its text (owner None). Not the network-setup
    points: they serve the host, not a plugin type's vNICs."""
    ours = cfg.plugin_types if cfg is not None else {}
    names = set(config_mod.DEFAULT_PLUGIN_TYPES) | set(ours)
    for _package, types in KNOWN_HOOKS.values():
        names.update(types)
    found: dict[str, dict[tuple, list[str]]] = {}
    handled: dict[str, tuple[str, str | None, str | None]]
    for point in sorted(HOOK_POINTS):
        if HOOK_POINTS[point].call == NETWORK_SETUP:
            continue
        directory = os.path.join(hooks_dir, point)
        try:
            entries = sorted(os.listdir(directory))
        except OSError:
            continue
        for entry in entries:
            path = os.path.join(directory, entry)
            if not (os.path.isfile(path) and os.access(path, os.X_OK)):
                continue  # VDSM skips it too
            if entry == script_name(point):
                handled = {t: (entry, "vif-driver", d) for t, d in ours.items()}
            elif entry in KNOWN_HOOKS:
                package, types = KNOWN_HOOKS[entry]
                handled = {t: (entry, package, None) for t in types}
            else:
                handled = {t: (entry, None, None) for t in _named_in(path, names)}
            for plugin_type, key in handled.items():
                found.setdefault(plugin_type, {}).setdefault(key, []).append(point)
    return found


def _named_in(path: str, names) -> list[str]:
    try:
        with open(path, "rb") as f:
            text = f.read(_SCAN)
    except OSError:
        return []
    return [name for name in names if name.encode() in text]


def _label(key: tuple) -> str:
    script, owner, driver = key
    return (f"{script} (vif-driver, driver {driver})" if owner == "vif-driver" else
            f"{script} ({owner})" if owner else script)


def check_handlers(report: Report, hooks_dir: str, cfg) -> None:
    """Each plugin type with the hook scripts that handle it; a warning when
    two handle one in the same hook point (every vNIC rewritten twice)."""
    where = cfg.path if cfg is not None and cfg.path else config_mod.DEFAULT_PATH
    for plugin_type, scripts in sorted(hook_handlers(hooks_dir, cfg).items()):
        listed = "; ".join(f"{_label(key)} in {_points(points)}" for key, points in sorted(scripts.items()))
        counts: dict[str, int] = {}
        for points in scripts.values():
            for point in points:
                counts[point] = counts.get(point, 0) + 1
        shared = sorted(point for point, count in counts.items() if count > 1)
        if not shared:
            report.ok(f"plugin type {plugin_type}: handled by {listed}")
            continue
        others = [key for key in sorted(scripts) if key[1] != "vif-driver"]
        packages = sorted({key[1] for key in others if key[1]})
        loose = sorted({key[0] for key in others if not key[1]})
        remove = " and ".join(([f"the {' '.join(packages)} package (dnf remove {' '.join(packages)})"]
                               if packages else []) + ([f"the script {', '.join(loose)}"] if loose else []))
        unmap = (f"or unmap it from vif-driver ('{plugin_type} =' in [plugin_types] of {where})"
                 if any(key[1] == "vif-driver" for key in scripts) else "")
        report.warn(f"plugin type {plugin_type} is handled twice in {_points(shared)}: {listed}; "
                    "every vNIC is rewritten twice", f"keep one: remove {remove} {unmap}".strip())


def _points(points: list[str]) -> str:
    return ", ".join(points) if len(points) <= 3 else f"{len(points)} hook points"


def _can_write(st, user: pwd.struct_passwd) -> bool:
    if user.pw_uid == 0:
        return True
    groups = {user.pw_gid} | {g.gr_gid for g in grp.getgrall() if user.pw_name in g.gr_mem}
    if st.st_uid == user.pw_uid:
        return bool(st.st_mode & 0o200)
    if st.st_gid in groups:
        return bool(st.st_mode & 0o020)
    return bool(st.st_mode & 0o002)


def check_agent(report: Report, cfg, user: pwd.struct_passwd | None) -> None:
    from vif_driver.agent import auth
    from vif_driver.hook import client
    from vif_driver.hook.ownership import agent_socket_path
    from vif_driver.hook.protocol import Request
    path = agent_socket_path(os.environ)  # where the hooks look: never agent_socket of the config
    if cfg.agent_socket != config_mod.DEFAULT_AGENT_SOCKET and cfg.agent_socket != path:
        report.warn(f"agent_socket = {cfg.agent_socket} in the config: the hooks do not read it, they "
                    f"look at ${config_mod.AGENT_SOCKET_ENV} or {config_mod.DEFAULT_AGENT_SOCKET}",
                    f"set {config_mod.AGENT_SOCKET_ENV}={cfg.agent_socket} in VDSM's environment, "
                    "or remove agent_socket")
    try:
        st = os.stat(path)
    except OSError:
        report.fail(f"agent socket {path} is missing: the hooks run as vdsm and cannot plug vNICs", START)
        return
    if not stat.S_ISSOCK(st.st_mode):
        report.fail(f"{path} is not a socket", f"remove it, then {START}")
        return
    if user is not None:
        if not _can_write(st, user):
            report.fail(f"agent socket {path} (mode {stat.filemode(st.st_mode)[1:]}, group "
                        f"{_group_name(st.st_gid)}) is not writable by {user.pw_name}",
                        f"SocketGroup= of vif-driverd.socket must be one of {user.pw_name}'s groups")
        elif not auth.allowed(auth.Peer(0, user.pw_uid, user.pw_gid), cfg.agent_users, cfg.agent_groups):
            report.fail(f"the agent refuses {user.pw_name}: not in agent_users ({' '.join(cfg.agent_users)}) "
                        f"or agent_groups ({' '.join(cfg.agent_groups)})",
                        f"add {user.pw_name} to agent_users in [vif-driver] of the config")
    try:
        response = client.call(Request("after_get_caps", "{}", {}), path)
    except client.AgentError as e:
        report.fail(str(e), "journalctl -u vif-driverd; systemctl restart vif-driverd")
        return
    if response is None:
        report.fail(f"agent socket {path} refuses connections", f"systemctl restart vif-driverd.socket ({START})")
        return
    report.ok(f"agent answers on {path}" + (f" ({user.pw_name} may use it)" if user else ""))


def _group_name(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def check_drivers(report: Report, cfg) -> None:
    from vif_driver.api import VifDriverError
    from vif_driver.core import dispatch, registry
    for name, plugin_types in cfg.drivers().items():
        try:
            driver = registry.load(name)
            options = dispatch.resolve_options(driver, cfg, name, {})
        except VifDriverError as e:
            fix = "have its author fix the driver class (docs/writing-a-driver.md)" \
                if isinstance(e, registry.BrokenDriver) else "install the driver"
            report.fail(f"driver {name} ({', '.join(plugin_types)}): {e}",
                        f"{fix}, or change [plugin_types] in {cfg.path or config_mod.DEFAULT_PATH}")
            continue
        report.ok(f"driver {name} handles {', '.join(plugin_types)}")
        if name == "ovs":
            check_ovs(report, options, cfg.timeout)
        elif name == "linux_bridge" and not options.get("netns"):
            from vif_driver.drivers.linux_bridge import underlays
            bridge = options.get("bridge")
            # what plugs use: the config's mappings and the underlay=physnet: networks
            mappings = underlays.mappings(options, lambda text: report.warn(
                f"linux_bridge: {text}", "map one physical network per interface"))
            if isinstance(bridge, str) and bridge:
                _check_link(report, name, bridge)
            for uplink in (mappings.values() if isinstance(mappings, dict) else ()):
                _check_link(report, name, uplink)


def check_ovs(report: Report, options, timeout: float) -> None:
    """Through the driver's own OVSDB client, so the check reads what the
    hooks will read."""
    from vif_driver.api import HostError
    from vif_driver.drivers.ovs.ovsdb import OvsDb
    from vif_driver.drivers.ovs.remote import start_hint
    remote, bridge = options["ovsdb"], options["bridge"]
    try:
        with OvsDb(remote, timeout) as db:
            system_id, has_bridge = db.host_info(bridge)
    except HostError as e:
        report.fail(str(e), f"{start_hint()}, or fix ovsdb in [driver:ovs]")
        return
    report.ok(f"Open vSwitch answers at {remote}")
    if system_id:
        report.ok(f"Open vSwitch system-id {system_id} (the binding host id reported in caps)")
    else:
        report.fail("Open vSwitch has no external_ids:system-id: the engine cannot bind ports to this host",
                    "ovs-vsctl set Open_vSwitch . external_ids:system-id=$(uuidgen)")
    if has_bridge:
        report.ok(f"OVS bridge {bridge} exists")
    else:
        report.fail(f"OVS bridge {bridge} does not exist", f"ovs-vsctl add-br {bridge}, or fix bridge in [driver:ovs]")


def check_underlays(report: Report, cfg) -> None:
    """The underlays the last network setup recorded (docs/network-setup.md)
    are still there: a switch-type change never runs before_network_setup."""
    from vif_driver.api import VifDriverError
    from vif_driver.core import dispatch, registry, underlay_state
    state = underlay_state.load()
    if not state:
        return
    netns: dict = {}
    encap_ip = None
    for name in cfg.drivers():
        try:
            options = dispatch.resolve_options(registry.load(name), cfg, name, {})
        except VifDriverError:
            continue  # check_drivers reported it
        netns[name] = options.get("netns")
        if name == "ovs" and state.get("tunnel"):
            try:
                from vif_driver.drivers.ovs.ovsdb import OvsDb
                with OvsDb(str(options["ovsdb"]), cfg.timeout) as db:
                    encap_ip = db.read(lambda t: next(iter(t["Open_vSwitch"].rows.values())).external_ids
                                       .get("ovn-encap-ip", ""), "ovn-encap-ip", {"Open_vSwitch": ["external_ids"]})
            except (VifDriverError, StopIteration):
                encap_ip = None
    try:
        found = underlay_state.problems(state, netns.get("ovs"), netns.get("linux_bridge"), encap_ip)
    except (OSError, VifDriverError) as e:
        report.warn(f"underlays not checked: {e}", "run vif-driver doctor as root")
        return
    for text, fix in found:
        report.fail(text, fix)
    if not found:
        report.ok("underlays: " + "; ".join(underlay_state.describe(state)))


def _check_link(report: Report, driver: str, name: str) -> None:
    if os.path.exists(os.path.join("/sys/class/net", name)):
        report.ok(f"{driver}: network device {name} exists")
    else:
        report.fail(f"{driver}: network device {name} does not exist on this host",
                    f"create it or fix [driver:{driver}] in the config")


@click.command("doctor")
@click.option("--config", "config_path", type=click.Path(dir_okay=False),
              help="Host config (default: $VIF_DRIVER_CONFIG or /etc/vif-driver/vif-driver.conf).")
@click.option("--hooks-dir", default=HOOKS_DIR, show_default=True, type=click.Path(file_okay=False),
              help="VDSM's hooks root.")
@click.option("--user", "user_name", default="vdsm", show_default=True,
              help="The user VDSM runs hooks as.")
def doctor(config_path, hooks_dir, user_name):
    """Check this host: config, hook files, the agent, drivers, OVS, bridges."""
    report = Report()
    try:
        user = pwd.getpwnam(user_name)
    except KeyError:
        user = None
        report.fail(f"user {user_name} does not exist", "install vdsm (it creates the vdsm user), or pass --user")
    cfg = check_config(report, config_path)
    check_hooks(report, hooks_dir, user)
    check_handlers(report, hooks_dir, cfg)
    if cfg is not None:
        check_agent(report, cfg, user)
        check_drivers(report, cfg)
        check_underlays(report, cfg)
    if report.failed:
        raise click.ClickException(f"{report.failed} problem(s) found; fix them and run `vif-driver doctor` again")
    click.echo("all checks passed")

"""The host configuration file: which driver handles which plugin_type.

Standard library only (and no configparser, see read_ini): the entrypoint reads it to decide
whether an EXTERNAL_NETWORK vNIC is ours, before anything heavy is imported.

    [vif-driver]
    timeout = 10              ; seconds, bound on every external call
    debug = false             ; tracebacks of internal errors on stderr
    capture_dir =             ; save each owned hook run as a replayable fixture
    agent_socket = /run/vif-driver/agent.sock

    [plugin_types]            ; plugin_type = driver name; empty = not ours
    OPEN_VSWITCH = ovs

    [driver:ovs]              ; options of one driver; a vNIC's provider
    bridge = br-int           ; custom property of the same name overrides
"""

import os

DEFAULT_PATH = "/etc/vif-driver/vif-driver.conf"
CONFIG_ENV = "VIF_DRIVER_CONFIG"
DEFAULT_AGENT_SOCKET = "/run/vif-driver/agent.sock"
AGENT_SOCKET_ENV = "VIF_DRIVER_AGENT_SOCKET"
AGENT_START_HINT = "systemctl enable --now vif-driverd.socket"
DEFAULT_TIMEOUT = 10.0

# Built-in mapping; the [plugin_types] section is merged over it.
DEFAULT_PLUGIN_TYPES = {
    "OPEN_VSWITCH": "ovs",
    "OVIRT_PROVIDER_OVN": "ovs",
    "LINUX_BRIDGE": "linux_bridge",
}

MAIN_SECTION = "vif-driver"
PLUGIN_SECTION = "plugin_types"
DRIVER_PREFIX = "driver:"
_MAIN_KEYS = ("timeout", "debug", "capture_dir", "agent_socket", "agent_users", "agent_groups")


class ConfigError(Exception):
    """The configuration file is unreadable or invalid; message is one line."""


class HostConfig:
    """Parsed host configuration. Option values stay strings here; each
    driver's declared options parse them (see api.Option)."""

    __slots__ = ("path", "timeout", "debug", "capture_dir", "agent_socket",
                 "agent_users", "agent_groups", "plugin_types", "driver_options")

    def __init__(self, path=None, main=None, plugin_types=None, driver_options=None):
        main = main or {}
        self.path = path
        self.timeout = _positive_float(main.get("timeout"), DEFAULT_TIMEOUT, path, "timeout")
        self.debug = _boolean(main.get("debug", "false"), path, "debug")
        self.capture_dir = main.get("capture_dir") or None
        self.agent_socket = main.get("agent_socket") or DEFAULT_AGENT_SOCKET
        self.agent_users = _words(main.get("agent_users", "vdsm"))
        self.agent_groups = _words(main.get("agent_groups", "vdsm"))
        mapping = dict(DEFAULT_PLUGIN_TYPES)
        mapping.update(plugin_types or {})
        self.plugin_types = {k: v for k, v in mapping.items() if v}
        self.driver_options = driver_options or {}

    def driver_for(self, plugin_type):
        """The driver name configured for a plugin_type, or None: not ours."""
        if not plugin_type:
            return None
        return self.plugin_types.get(plugin_type)

    def drivers(self):
        """Each configured driver name with the plugin_types mapped to it."""
        result = {}
        for plugin_type, driver in sorted(self.plugin_types.items()):
            result.setdefault(driver, []).append(plugin_type)
        return result

    def options_for(self, driver):
        """Raw option strings from the [driver:NAME] section."""
        return self.driver_options.get(driver, {})


def agent_socket_path(environ, configured: "str | None") -> str:
    return environ.get(AGENT_SOCKET_ENV) or configured or DEFAULT_AGENT_SOCKET


def config_path(environ=None):
    environ = os.environ if environ is None else environ
    return environ.get(CONFIG_ENV) or DEFAULT_PATH


def may_map(plugin_type, environ=None) -> bool:
    """A cheap, conservative ownership pre-check: a plugin_type can only be
    mapped by the defaults or by appearing in the config file's text. Saves
    other providers' vNICs the parse; a True answer still goes through it."""
    if not plugin_type:
        return False
    if plugin_type in DEFAULT_PLUGIN_TYPES:
        return True
    try:
        with open(config_path(environ), "rb") as f:
            return plugin_type.encode("utf-8", "replace") in f.read()
    except FileNotFoundError:
        return False  # built-in defaults only
    except OSError:
        # Unreadable (permissions): a plugin_type outside the defaults cannot
        # be told ours, and another provider's VM must not fail for our config.
        return False


def load(environ=None):
    """Read the host configuration.

    A missing default file means built-in defaults; a file named explicitly
    through $VIF_DRIVER_CONFIG must exist.
    """
    environ = os.environ if environ is None else environ
    explicit = environ.get(CONFIG_ENV)
    path = explicit or DEFAULT_PATH
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        if explicit:
            raise ConfigError(f"config {path}: no such file (set {CONFIG_ENV} to an existing file or unset it)")
        return HostConfig()
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"config {path}: cannot read: {e}; check its permissions (readable by vdsm) and encoding")
    return parse(text, path)


def read_ini(text, source="<string>") -> "dict[str, dict[str, str]]":
    """Sections of an INI text: ``[section]``, ``key = value``, comments
    starting with '#' or ';' (also after a value, following a space).

    Our own reader rather than configparser: configparser compiles its
    regular expressions at import, which costs an owned hook about half an
    interpreter start. Names keep their case (plugin types are upper case);
    duplicates and stray lines are errors, as in configparser's strict mode.
    """
    sections: "dict[str, dict[str, str]]" = {}
    current = None
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped[0] in "#;":
            continue
        if stripped.startswith("["):
            if not stripped.endswith("]") or len(stripped) < 3:
                raise ConfigError(f"config {source}: line {number}: malformed section header {stripped!r}")
            name = stripped[1:-1].strip()
            if name in sections:
                raise ConfigError(f"config {source}: line {number}: section [{name}] appears twice")
            current = sections[name] = {}
            continue
        key, sep, value = stripped.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"config {source}: line {number}: expected 'key = value', got {stripped!r}")
        if current is None:
            raise ConfigError(f"config {source}: line {number}: '{key}' comes before any [section]")
        if key in current:
            raise ConfigError(f"config {source}: line {number}: '{key}' appears twice in its section")
        for marker in (" ;", "\t;", " #", "\t#"):
            if marker in value:
                value = value[:value.index(marker)]
        current[key] = value.strip()
    return sections


def parse(text, path="<string>"):
    main, plugin_types, driver_options = {}, {}, {}
    for section, values in read_ini(text, path).items():
        if section == MAIN_SECTION:
            unknown = sorted(set(values) - set(_MAIN_KEYS))
            if unknown:
                raise ConfigError(f"config {path}: [{MAIN_SECTION}] unknown key '{unknown[0]}'; "
                                  f"known keys: {', '.join(_MAIN_KEYS)}")
            main = values
        elif section == PLUGIN_SECTION:
            plugin_types = values
        elif section.startswith(DRIVER_PREFIX) and section[len(DRIVER_PREFIX):]:
            driver_options[section[len(DRIVER_PREFIX):]] = values
        else:
            raise ConfigError(f"config {path}: unknown section [{section}]; expected [{MAIN_SECTION}], "
                              f"[{PLUGIN_SECTION}] or [{DRIVER_PREFIX}NAME]")
    return HostConfig(path, main, plugin_types, driver_options)


def _positive_float(value, default, path, key):
    if value is None or value == "":
        return default
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if not 0 < number <= 3600:
        raise ConfigError(f"config {path}: [{MAIN_SECTION}] {key} = {value!r}: expected seconds between 0 and 3600")
    return number


def _boolean(value, path, key):
    lowered = value.strip().lower()
    if lowered in ("1", "yes", "true", "on"):
        return True
    if lowered in ("0", "no", "false", "off", ""):
        return False
    raise ConfigError(f"config {path}: [{MAIN_SECTION}] {key} = {value!r}: expected true or false")


def _words(value):
    return tuple(w for w in value.replace(",", " ").split() if w)

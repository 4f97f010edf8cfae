"""The host configuration file: which driver handles which plugin_type.

Read with configparser by the agent and by an in-process hook (root, no
agent). The paths and the cheap "can this plugin_type be ours" check a hook
process makes before anything else are in vif_driver.hook.ownership.

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

from __future__ import annotations

import os

from vif_driver.hook.ownership import (  # noqa: F401 - part of this module's API
    AGENT_SOCKET_ENV,
    AGENT_START_HINT,
    CONFIG_ENV,
    DEFAULT_AGENT_SOCKET,
    DEFAULT_PATH,
    DEFAULT_PLUGIN_TYPES,
    config_path,
    may_map,
)

DEFAULT_TIMEOUT = 10.0

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
                 "agent_users", "agent_groups", "plugin_types", "driver_options", "lines")

    def __init__(self, path=None, main=None, plugin_types=None, driver_options=None, lines=None):
        main = main or {}
        self.path = path
        self.lines = lines or {}  # (section, key or None for its header) -> line number
        self.timeout = self._main(main, "timeout", "seconds", DEFAULT_TIMEOUT)
        self.debug = self._main(main, "debug", "boolean", False)
        self.capture_dir = main.get("capture_dir") or None
        self.agent_socket = main.get("agent_socket") or DEFAULT_AGENT_SOCKET
        self.agent_users = _words(main.get("agent_users", "vdsm"))
        self.agent_groups = _words(main.get("agent_groups", "vdsm"))
        mapping = dict(DEFAULT_PLUGIN_TYPES)
        mapping.update(plugin_types or {})
        self.plugin_types = {k: v for k, v in mapping.items() if v}
        self.driver_options = driver_options or {}

    def _main(self, main: dict, key: str, parser: str, default):
        """[vif-driver] ``key`` parsed by vif_driver.core.validate's ``parser``;
        ``default`` when unset or empty (validate only then: it imports re)."""
        value = main.get(key)
        if value is None or value == "":
            return default
        from vif_driver.core import validate
        try:
            return getattr(validate, parser)(value)
        except ValueError as e:
            raise ConfigError(f"{self.where(MAIN_SECTION, key)}: [{MAIN_SECTION}] {key}: {e}") from None

    def driver_for(self, plugin_type):
        """The driver name configured for a plugin_type, or None: not ours."""
        if not plugin_type:
            return None
        return self.plugin_types.get(plugin_type)

    def drivers(self):
        """Each configured driver name with the plugin_types mapped to it."""
        result: dict[str, list[str]] = {}
        for plugin_type, driver in sorted(self.plugin_types.items()):
            result.setdefault(driver, []).append(plugin_type)
        return result

    def options_for(self, driver):
        """Raw option strings from the [driver:NAME] section."""
        return self.driver_options.get(driver, {})

    def where(self, section: str, key: str | None = None) -> str:
        """'config PATH: line N' of a key (or a section header), for messages."""
        line = self.lines.get((section, key))
        return f"config {self.path}" + (f": line {line}" if line else "")


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
            raise ConfigError(f"config {path}: no such file "
                              f"(set {CONFIG_ENV} to an existing file or unset it)") from None
        return HostConfig()
    except OSError as e:
        raise ConfigError(f"config {path}: cannot read: {e.strerror or e}; make it readable by the "
                          f"hooks' user (vdsm, uid {os.geteuid()} here), e.g. mode 0644") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"config {path}: the byte at offset {e.start} is not UTF-8; save the file as UTF-8") from None
    return parse(text, path)


def read_ini(text, source="<string>") -> dict[str, dict[str, str]]:
    """Sections of an INI text, read by the standard configparser:
    ``[section]``, ``key = value``, comments starting with '#' or ';' (also
    after a value or a section header, following whitespace), no
    interpolation. Strict: a section or key appearing twice is an error.
    Names keep their case (plugin types are upper case). Leading whitespace
    is ignored, so no value continues on an indented line (an indented
    README example reads the same as the file).

    Imported here, not at module level: configparser (and the re it
    imports) would cost every other provider's vNIC hook run; only an owned
    one gets this far.
    """
    sections, _ = _read(text, source)
    return sections


def _read(text, source):
    """(sections, {(section, key or None): line number})."""
    import configparser

    lines = _Lines(text)
    created = []

    class Recording(dict):
        """configparser's dict_type: notes the line of each section and key
        as configparser stores it (configparser keeps no line numbers, and
        an error must name its line)."""

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.lines: dict = {}
            self.name: str | None = None
            created.append(self)

        def __setitem__(self, key, value):
            if isinstance(value, Recording):  # a section: its header's line
                value.lines.setdefault(None, lines.number)
                value.name = key
            else:
                self.lines.setdefault(key, lines.number)  # an option, first stored on its line
            super().__setitem__(key, value)

    parser = configparser.ConfigParser(
        delimiters=("=",), comment_prefixes=("#", ";"), inline_comment_prefixes=("#", ";"),
        strict=True, empty_lines_in_values=False, interpolation=None, dict_type=Recording,
        default_section="\n")  # no line can name it: [DEFAULT] is an ordinary (unknown) section
    parser.optionxform = str  # type: ignore[assignment, method-assign] # keep the case
    where = f"config {source}: line"
    number = None  # the line configparser could not read
    try:
        parser.read_file(lines, source)
    except configparser.DuplicateSectionError as e:
        raise ConfigError(f"{where} {e.lineno}: section [{e.section}] appears twice; merge the two") from None
    except configparser.DuplicateOptionError as e:
        raise ConfigError(f"{where} {e.lineno}: '{e.option}' appears twice in [{e.section}]; keep one") from None
    except configparser.MissingSectionHeaderError as e:
        if not lines.text_of(e.lineno).startswith("["):
            raise ConfigError(f"{where} {e.lineno}: {_shown(e.line)} comes before any [section]; put it "
                              f"under [{MAIN_SECTION}], [{PLUGIN_SECTION}] or [{DRIVER_PREFIX}NAME]") from None
        number = e.lineno
    except configparser.ParsingError as e:
        number = e.errors[0][0]
    except configparser.Error as e:  # none other is raised by read_file today
        raise ConfigError(f"config {source}: {' '.join(str(e).split())[:160]}") from None
    if number is not None:
        got = lines.text_of(number)
        if got.startswith("["):
            raise ConfigError(f"{where} {number}: malformed section header {_shown(got)}; "
                              "write it as [name] (a comment after it needs a space before ; or #)")
        raise ConfigError(f"{where} {number}: expected 'key = value' or '[section]', got {_shown(got)}")
    sections, line_of = {}, {}
    for section in parser.sections():
        sections[section] = dict(parser.items(section))
    for recorded in created:
        name = getattr(recorded, "name", None)
        if name in sections:
            for key, number in recorded.lines.items():
                line_of[(name, key)] = number
    return sections, line_of


class _Lines:
    """The config's lines for configparser, leading whitespace removed;
    ``number`` is the line it is reading."""

    def __init__(self, text: str):
        self._lines = [line.lstrip(" \t") for line in text.splitlines(keepends=True)]
        self.number = 0

    def __iter__(self):
        for number, line in enumerate(self._lines, 1):
            self.number = number
            yield line

    def text_of(self, number: int) -> str:
        return self._lines[number - 1].strip() if 0 < number <= len(self._lines) else ""


def _shown(line: str) -> str:
    """A line of the file quoted for a message, cut to keep it one short line."""
    text = line.strip()
    return repr(text if len(text) <= 40 else text[:40] + "...")


def parse(text, path="<string>"):
    main, plugin_types, driver_options = {}, {}, {}
    sections, line_of = _read(text, path)
    for section, values in sections.items():
        at = f"config {path}: line {line_of.get((section, None), '?')}:"
        if section == MAIN_SECTION:
            unknown = sorted(set(values) - set(_MAIN_KEYS))
            if unknown:
                at = f"config {path}: line {line_of.get((section, unknown[0]), '?')}:"
                raise ConfigError(f"{at} [{MAIN_SECTION}] unknown key '{_cut(unknown[0])}'; "
                                  f"known keys: {', '.join(_MAIN_KEYS)}")
            main = values
        elif section == PLUGIN_SECTION:
            plugin_types = values
        elif section.startswith(DRIVER_PREFIX) and section[len(DRIVER_PREFIX):]:
            driver_options[section[len(DRIVER_PREFIX):]] = values
        else:
            raise ConfigError(f"{at} unknown section [{_cut(section)}]; expected [{MAIN_SECTION}], "
                              f"[{PLUGIN_SECTION}] or [{DRIVER_PREFIX}NAME]")
    return HostConfig(path, main, plugin_types, driver_options, line_of)


def _cut(name: str) -> str:
    return name if len(name) <= 40 else name[:40] + "..."


def _words(value):
    return tuple(w for w in value.replace(",", " ").split() if w)

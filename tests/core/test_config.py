"""Host config: mapping, options, errors that name the key and the fix."""

import os
import re
import subprocess
import sys
import textwrap

import pytest

from vif_driver.core import config
from vif_driver.core.config import ConfigError

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")


def test_missing_default_file_means_builtin_defaults(tmp_path, monkeypatch):
    monkeypatch.setattr(config, "DEFAULT_PATH", str(tmp_path / "absent.conf"))
    cfg = config.load({})
    assert cfg.driver_for("OPEN_VSWITCH") == "ovs"
    assert cfg.driver_for("OVIRT_PROVIDER_OVN") == "ovs"
    assert cfg.driver_for("LINUX_BRIDGE") == "linux_bridge"
    assert cfg.driver_for("SOMETHING_ELSE") is None
    assert cfg.timeout == config.DEFAULT_TIMEOUT


def test_explicit_path_must_exist(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        config.load({config.CONFIG_ENV: str(tmp_path / "absent.conf")})


def test_mapping_merges_over_defaults_and_empty_disables():
    cfg = config.parse("[plugin_types]\nMY_SDN = mine\nOPEN_VSWITCH =\n[driver:mine]\nbridge = br0\n")
    assert cfg.driver_for("MY_SDN") == "mine"
    assert cfg.driver_for("OPEN_VSWITCH") is None
    assert cfg.driver_for("OVIRT_PROVIDER_OVN") == "ovs"
    assert cfg.drivers() == {"mine": ["MY_SDN"], "ovs": ["OVIRT_PROVIDER_OVN"],
                             "linux_bridge": ["LINUX_BRIDGE"]}
    assert cfg.options_for("mine") == {"bridge": "br0"}


@pytest.mark.parametrize("text, match", [
    ("[vif-driver]\ntimeout = soon\n", "timeout: 'soon' is not a number of seconds"),
    ("[vif-driver]\ntimout = 3\n", "unknown key 'timout'"),
    ("[vif-driver]\ndebug = maybe\n", "debug: 'maybe' is not true or false"),
    ("[surprise]\na = b\n", r"unknown section \[surprise\]"),
    ("not an ini file\n", "config x.conf: "),
])
def test_bad_config_gives_one_line_naming_the_key(text, match):
    with pytest.raises(ConfigError, match=match) as info:
        config.parse(text, "x.conf")
    assert "\n" not in str(info.value)


def test_may_map_is_conservative(tmp_path):
    path = tmp_path / "c.conf"
    path.write_text("[plugin_types]\nMY_SDN = mine\n")
    env = {config.CONFIG_ENV: str(path)}
    assert config.may_map("OPEN_VSWITCH", env)
    assert config.may_map("MY_SDN", env)
    assert not config.may_map("OTHER_SDN", env)
    assert not config.may_map("", env)
    assert not config.may_map("OTHER_SDN", {config.CONFIG_ENV: str(tmp_path / "absent")})


@pytest.mark.parametrize("text, message", [
    ("[a\nx = 1\n", "config t.conf: line 1: malformed section header '[a'; write it as [name] "
                    "(a comment after it needs a space before ; or #)"),
    ("[vif-driver]\n[plugin_types];x\n[b\n", "config t.conf: line 3: malformed section header '[b'; "
                                              "write it as [name] (a comment after it needs a space before ; or #)"),
    ("x = 1\n", "config t.conf: line 1: 'x = 1' comes before any [section]; put it under [vif-driver], "
               "[plugin_types] or [driver:NAME]"),
    ("[a]\nx = 1\n[a]\n", "config t.conf: line 3: section [a] appears twice; merge the two"),
    ("[a]\nx = 1\nx = 2\n", "config t.conf: line 3: 'x' appears twice in [a]; keep one"),
    ("[a]\njust words\n", "config t.conf: line 2: expected 'key = value' or '[section]', got 'just words'"),
    ("[a]\nkey : value\n", "config t.conf: line 2: expected 'key = value' or '[section]', got 'key : value'"),
    ("[a]\n= value\n", "config t.conf: line 2: expected 'key = value' or '[section]', got '= value'"),
    ("# c\n[vif-driver]\n\ntimout = 3\n", "config t.conf: line 4: [vif-driver] unknown key 'timout'; known keys: "
                                          "timeout, debug, capture_dir, agent_socket, agent_users, agent_groups"),
    ("[vif-driver]\ntimeout = soon ; s\n", "config t.conf: line 2: [vif-driver] timeout: "
                                           "'soon' is not a number of seconds between 0 and 3600"),
    ("[vif-driver]\ndebug = maybe\n", "config t.conf: line 2: [vif-driver] debug: 'maybe' is not true or false"),
    ("[DEFAULT]\nbridge = br0\n", "config t.conf: line 1: unknown section [DEFAULT]; "
                                  "expected [vif-driver], [plugin_types] or [driver:NAME]"),
    ("[plugin_types]\n" + "X" * 300 + " = y\n[" + "s" * 300 + "]\n",
     "config t.conf: line 3: unknown section [" + "s" * 40 + "...]; expected [vif-driver], [plugin_types] or "
     "[driver:NAME]"),
])
def test_config_errors_are_one_line_naming_file_line_and_fix(text, message):
    with pytest.raises(ConfigError) as info:
        config.parse(text, "t.conf")
    assert str(info.value) == message
    assert len(message) <= 240


def test_configparser_rules_comments_case_no_interpolation_indentation():
    text = ("# top\n[Sec]   ; a comment after a header\n; note\nKey = a b  ; inline\nother=x#y\nempty =\n"
            "pct = 100%(x)s\n   indented = its own key\n\tOPEN_VSWITCH = ovs # tab-indented\n")
    assert config.read_ini(text) == {"Sec": {"Key": "a b", "other": "x#y", "empty": "", "pct": "100%(x)s",
                                             "indented": "its own key", "OPEN_VSWITCH": "ovs"}}


def _readme_ini():
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        blocks = re.findall(r"^( *)```ini\n(.*?)^ *```", f.read(), re.S | re.M)
    assert blocks, "README.md has no ```ini block"
    return [textwrap.dedent(body) for _indent, body in blocks]


def test_readme_config_example_parses():
    (example,) = _readme_ini()
    assert "[plugin_types]   " in example and "; plugin_type = driver" in example  # the line once refused
    cfg = config.parse(example, "README.md")
    assert cfg.timeout == 10.0
    assert cfg.plugin_types == {"OPEN_VSWITCH": "ovs", "OVIRT_PROVIDER_OVN": "ovs", "LINUX_BRIDGE": "linux_bridge"}
    assert cfg.options_for("ovs") == {"bridge": "br-int"}
    assert cfg.capture_dir is None  # commented out


def test_shipped_config_parses_to_the_defaults():
    path = os.path.join(ROOT, "etc", "vif-driver.conf")
    cfg = config.load({config.CONFIG_ENV: path})
    default = config.HostConfig()
    for key in ("timeout", "debug", "capture_dir", "agent_socket", "agent_users", "agent_groups", "plugin_types"):
        assert getattr(cfg, key) == getattr(default, key), key
    assert cfg.driver_options == {}


def test_parsing_imports_configparser_only_when_asked():
    """may_map (every EXTERNAL_NETWORK vNIC's pre-check) stays free of it."""
    code = ("import sys; from vif_driver.core import config; "
            "assert config.may_map('OPEN_VSWITCH', {}) and 'configparser' not in sys.modules; "
            "config.parse('[plugin_types]'); assert 'configparser' in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=30)


def test_non_utf8_config_names_the_byte(tmp_path):
    path = tmp_path / "latin1.conf"
    path.write_bytes(b"[plugin_types]\n# caf\xe9\n")
    with pytest.raises(ConfigError) as info:
        config.load({config.CONFIG_ENV: str(path)})
    assert str(info.value) == f"config {path}: the byte at offset 20 is not UTF-8; save the file as UTF-8"

"""Host config: mapping, options, errors that name the key and the fix."""

import pytest

from vif_driver import config
from vif_driver.config import ConfigError


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
    ("[vif-driver]\ntimeout = soon\n", "timeout = 'soon': expected seconds"),
    ("[vif-driver]\ntimout = 3\n", "unknown key 'timout'"),
    ("[vif-driver]\ndebug = maybe\n", "debug = 'maybe': expected true or false"),
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


@pytest.mark.parametrize("text, match", [
    ("[a\nx = 1\n", "line 1: malformed section header"),
    ("x = 1\n", "line 1: 'x' comes before any"),
    ("[a]\nx = 1\n[a]\n", "line 3: section \\[a\\] appears twice"),
    ("[a]\nx = 1\nx = 2\n", "line 3: 'x' appears twice"),
    ("[a]\njust words\n", "line 2: expected 'key = value'"),
])
def test_ini_reader_is_strict(text, match):
    with pytest.raises(ConfigError, match=match):
        config.read_ini(text, "t.conf")


def test_ini_reader_comments_and_case():
    text = "# top\n[Sec]\n; note\nKey = a b  ; inline\nother=x#y\nempty =\n"
    assert config.read_ini(text) == {"Sec": {"Key": "a b", "other": "x#y", "empty": ""}}

"""The one grammar of each name (vif_driver.core.validate): whole-string
matches, what each accepts and refuses, and one-line messages."""

from __future__ import annotations

import pytest

from vif_driver.core import validate

UUID = "6a9f5e2b-71a3-4c1e-9d1b-2f4e6a8c0b13"

GOOD = [
    (validate.ifname, ["eth0", "br-int", "br_1.2", "x" * 15, "0", "vb100-1a2b3c4d"]),
    (validate.physnet, ["physnet1", "p", "x" * 64, "phys-net_1.a"]),
    (validate.vnic_id, [UUID, "port_1", "x" * 64]),
    (validate.uuid, [UUID, UUID.upper()]),
    (validate.token, ["OPEN_VSWITCH", "EXTERNAL_NETWORK", "x" * 64]),
    (validate.mac, ["fa:16:3e:12:34:56", "00:1A:4A:16:01:51", "fa-16-3e-12-34-56"]),
]
BAD = [
    (validate.ifname, ["", "x" * 16, "--may-exist", "-br", ".", "..", "br int", "br/int", "br-int\n", "\nbr",
                       "bré", "br\0", "br:1"]),
    (validate.physnet, ["", "x" * 65, "phys net", "-p", "physnet1\n", "phys:net", "p/1"]),
    (validate.vnic_id, ["", "../../etc/passwd", "6a9f$(reboot)", UUID + "\n", "x" * 65]),
    (validate.uuid, ["", UUID + "\n", UUID[:-1], UUID.replace("-", ""), "{" + UUID + "}", "g" + UUID[1:]]),
    (validate.token, ["", "OPEN-VSWITCH", "OPEN_VSWITCH\n", "x" * 65]),
    (validate.mac, ["", "fa:16:3e:12:34:56\n", "fa:16:3e:12:34", "fa:16-3e:12:34:56", "fa:16:3e:12:34:5g",
                    "01:00:5e:00:00:01", "ff:ff:ff:ff:ff:ff", "00:00:00:00:00:00", " fa:16:3e:12:34:56"]),
]


@pytest.mark.parametrize("parse, values", GOOD, ids=lambda x: getattr(x, "__name__", ""))
def test_good_values(parse, values):
    for value in values:
        assert parse(value) == (value.lower().replace("-", ":") if parse is validate.mac else value)


@pytest.mark.parametrize("parse, values", BAD, ids=lambda x: getattr(x, "__name__", ""))
def test_bad_values_are_refused_in_one_short_line(parse, values):
    for value in values:
        with pytest.raises(ValueError) as info:
            parse(value)
        message = str(info.value)
        assert "\n" not in message and len(message) <= 160, message


def test_every_grammar_matches_the_whole_string():
    """A trailing newline is what ``re.match`` with ``$`` lets through."""
    for pattern in (validate.IFNAME, validate.NAME, validate.VNIC_ID, validate.TOKEN, validate.UUID,
                    validate.MAC):
        good = {validate.UUID: UUID, validate.MAC: "fa:16:3e:12:34:56"}.get(pattern, "a1")
        assert validate.matches(pattern, good)
        assert not validate.matches(pattern, good + "\n")
        assert not validate.matches(pattern, "\n" + good)
        assert not validate.matches(pattern, None)


def test_interface_name_messages_say_the_fix():
    with pytest.raises(ValueError, match="longer than the kernel's 15-character limit"):
        validate.ifname("br-integration01")
    with pytest.raises(ValueError, match="starting with a letter or digit"):
        validate.ifname("--may-exist")


@pytest.mark.parametrize("value, expected", [("1", 1), ("4094", 4094), (" 100 ", 100), ("+7", 7)])
def test_vlan(value, expected):
    assert validate.vlan(value) == expected


@pytest.mark.parametrize("value", ["0", "4095", "-1", "1_0", "\u0661\u0662", "0x10", "1.0", "", "ten"])
def test_vlan_refusals(value):
    with pytest.raises(ValueError, match="is not an integer between 1 and 4094"):
        validate.vlan(value)


def test_mtu_and_ranges_shared_with_the_provider():
    from vif_driver.provider import segments, validation
    assert validate.mtu("68") == 68 and validate.mtu("65535") == 65535
    with pytest.raises(ValueError):
        validate.mtu("67")
    assert validation.SEGMENT_RANGES["vlan"] == segments.LOCAL_TAGS == validate.VLAN_RANGE


@pytest.mark.parametrize("value, expected", [("10", 10.0), ("0.5", 0.5), ("3600", 3600.0)])
def test_seconds(value, expected):
    assert validate.seconds(value) == expected


@pytest.mark.parametrize("value", ["0", "-1", "3601", "nan", "inf", "soon", ""])
def test_seconds_refusals(value):
    with pytest.raises(ValueError, match="is not a number of seconds between 0 and 3600"):
        validate.seconds(value)


@pytest.mark.parametrize("value, expected", [("yes", True), ("On", True), ("1", True), ("false", False),
                                             (" off ", False), ("0", False)])
def test_boolean(value, expected):
    assert validate.boolean(value) is expected


def test_boolean_refusal_and_config_uses_the_same_parsers():
    from vif_driver.core import config
    with pytest.raises(ValueError, match="'maybe' is not true or false"):
        validate.boolean("maybe")
    cfg = config.parse("[vif-driver]\ntimeout = 2.5\ndebug = yes\n")
    assert (cfg.timeout, cfg.debug) == (2.5, True)
    with pytest.raises(config.ConfigError, match=r"\[vif-driver\] timeout: '0' is not a number of seconds"):
        config.parse("[vif-driver]\ntimeout = 0\n")


def test_optional_and_mappings():
    assert validate.optional(validate.ifname)("") is None
    assert validate.optional(validate.ifname)("br0") == "br0"
    assert validate.mappings("physnet1:br-p1, physnet2:br-p2", "bridge", "physnet1:br-p1") == {
        "physnet1": "br-p1", "physnet2": "br-p2"}
    with pytest.raises(ValueError, match="physnet1: '--may-exist' is not an interface name"):
        validate.mappings("physnet1:--may-exist", "bridge", "physnet1:br-p1")


def test_url_and_path():
    assert validate.url("http://provider:9696") == "http://provider:9696"
    for bad in ("ftp://x", "http://user:pw@x/", "http://x/?q=1", "http://x\n"):
        with pytest.raises(ValueError):
            validate.url(bad)
    with pytest.raises(ValueError):
        validate.absolute_path("/etc/../x")

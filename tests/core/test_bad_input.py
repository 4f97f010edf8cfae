"""Bad input on a vNIC that is ours: exit 2 (before) or 1 (after), one line
naming the field and the fix, and the file byte-for-byte as it was."""

import json
import os

import pytest

from support import FIXTURES, external_props


def xml(name):
    with open(os.path.join(FIXTURES, "xml", name), "rb") as f:
        return f.read()


ENGINE = xml("engine-nic.xml")


def check_refused(run, data, *needles, code=2):
    assert run.rc == code, run.stderr
    assert run.data == data  # untouched, byte for byte
    lines = run.stderr.splitlines()
    assert len(lines) == 1, run.stderr
    assert "Traceback" not in run.stderr
    for needle in needles:
        assert needle in lines[0]


@pytest.mark.parametrize("name, needles", [
    ("not-wellformed.xml", ["device XML is not well-formed", "line 5"]),
    ("not-an-interface.xml", ["<disk> where <interface> is expected"]),
    ("empty.xml", ["device XML is empty"]),
    ("entity-expansion.xml", ["external entity"]),
])
def test_bad_device_xml(run_hook, test_env, name, needles):
    data = xml(name)
    run = run_hook("before_device_create", data, env=test_env, device_properties=external_props("TEST_SDN"))
    check_refused(run, data, *needles)


def test_non_utf8_file(run_hook, test_env):
    data = ENGINE.replace(b"vdsmdummy", b"vdsm\xffdummy")
    run = run_hook("before_nic_hotplug", data, env=test_env, device_properties=external_props("TEST_SDN"))
    check_refused(run, data, "cannot read $_hook_domxml")


@pytest.mark.parametrize("props, needles", [
    ({"vnic_id": ""}, ["property vnic_id is missing"]),
    ({"vnic_id": "../../etc/passwd"}, ["property vnic_id", "is not a port id"]),
    ({"vnic_id": "6a9f$(reboot)"}, ["property vnic_id", "is not a port id"]),
    ({"vnic_id": "a" * 65}, ["property vnic_id"]),
    ({"bridge": "br-int;rm -rf /"}, ["property bridge", "not an interface name"]),
    ({"bridge": "br-`id`"}, ["property bridge"]),
    ({"bridge": "-br-int"}, ["property bridge"]),
    ({"bridge": "br-integration-01"}, ["property bridge", "the kernel's 15-character limit"]),
    ({"bridge": "b" * 5000}, ["property bridge", "over the 1024-character limit"]),
    ({"vmId": "not-a-uuid"}, ["property vmId", "is not a UUID"]),
])
def test_bad_properties(run_hook, test_env, props, needles):
    run = run_hook("before_device_create", ENGINE, env=test_env, vm_id=None,
                   device_properties=external_props("TEST_SDN", **props))
    check_refused(run, ENGINE, *needles)


def test_bad_option_in_host_config(run_hook, test_env, config_file):
    config = config_file("[plugin_types]\nTEST_SDN = test\n[driver:test]\nbrdge = br0\n", "typo.conf")
    run = run_hook("before_device_create", ENGINE, env=dict(test_env, VIF_DRIVER_CONFIG=config),
                   device_properties=external_props("TEST_SDN"))
    check_refused(run, ENGINE, "typo.conf: line 4: [driver:test] unknown option 'brdge'; did you mean 'bridge'?")


def test_broken_config_file(run_hook, test_env, config_file):
    config = config_file("[plugin_types\nTEST_SDN = test\n", "broken.conf")
    run = run_hook("before_device_create", ENGINE, env=dict(test_env, VIF_DRIVER_CONFIG=config),
                   device_properties=external_props("TEST_SDN"))
    check_refused(run, ENGINE, "broken.conf")


@pytest.fixture
def odd_env(test_env, config_file):
    config = config_file("[plugin_types]\nMISSING_SDN = nosuchdriver\nBROKEN_SDN = broken\n", "odd.conf")
    return dict(test_env, VIF_DRIVER_CONFIG=config)


def test_driver_not_installed(run_hook, odd_env):
    run = run_hook("before_device_create", ENGINE, env=odd_env, device_properties=external_props("MISSING_SDN"))
    check_refused(run, ENGINE, "no driver named 'nosuchdriver' is installed", "[plugin_types]")


def test_entry_point_that_is_not_a_driver(run_hook, odd_env):
    run = run_hook("before_device_create", ENGINE, env=odd_env, device_properties=external_props("BROKEN_SDN"))
    check_refused(run, ENGINE, "is not a VifDriver subclass")


def test_unmapped_plugin_type_is_simply_not_ours(run_hook, test_env):
    run = run_hook("before_device_create", b"<not xml at all", env=test_env,
                   device_properties=external_props("UNKNOWN_SDN", vnic_id="$(reboot)"))
    assert run.rc == 0 and run.data == b"<not xml at all" and run.stderr == ""


def test_driver_bug_is_one_line_without_traceback(run_hook, test_env):
    run = run_hook("before_device_create", ENGINE, env=test_env,
                   device_properties=external_props("TEST_SDN", crash_in="plug_device"))
    check_refused(run, ENGINE, "internal error KeyError", "debug = true")


def test_after_hook_failures_exit_1(run_hook, test_env):
    data = xml("not-wellformed.xml")
    run = run_hook("after_nic_hotplug", data, env=test_env, device_properties=external_props("TEST_SDN"))
    check_refused(run, data, "not well-formed", code=1)
    run = run_hook("after_device_destroy", b"", env=test_env,
                   device_properties=external_props("TEST_SDN", vnic_id="bad id"))
    check_refused(run, b"", "property vnic_id", code=1)


def test_caps_with_bad_json_exit_1_untouched(run_hook, test_env):
    run = run_hook("after_get_caps", b"{not json", env=test_env)
    check_refused(run, b"{not json", "after_get_caps", code=1)


def test_stats_driver_failure_keeps_other_results(run_hook, test_env):
    with open(os.path.join(FIXTURES, "json", "stats.json")) as f:
        stats = json.load(f)
    run = run_hook("after_get_stats", stats, env=dict(test_env, fail_in="get_stats"))
    assert run.rc == 1
    assert run.json() == stats  # consistent: the failing driver added nothing
    assert run.stderr.splitlines() == [
        "vif-driver[test] after_get_stats: bridge br-test is not there; create it"]


@pytest.mark.parametrize("key, value", [
    ("ovsdb", "tcp:192.0.2.1:6640"),
    ("netns", "other"),
    ("plug_timeout", "3600"),
    ("provider_url", "http://198.51.100.7:9696"),
    ("provider_auth_url", "http://198.51.100.7:35357"),
    ("provider_username", "admin"),
])
def test_host_only_options_cannot_be_set_by_a_vnic(run_hook, config_file, key, value):
    """A custom property must not steer which switch, namespace or provider
    (with the host's credentials) a driver talks to."""
    config = config_file("[plugin_types]\nLINUX_BRIDGE =\n[driver:ovs]\nprovider_username = ops\n", "ovs.conf")
    run = run_hook("before_device_create", ENGINE, config=config,
                   device_properties=external_props("OPEN_VSWITCH", **{key: value}))
    check_refused(run, ENGINE, f"property {key} is host configuration only", "[driver:ovs]")


def test_per_vnic_options_stay_overridable(run_hook, config_file):
    config = config_file("[plugin_types]\nLINUX_BRIDGE =\n", "ovs.conf")
    run = run_hook("before_device_create", ENGINE, config=config,
                   device_properties=external_props("OPEN_VSWITCH", bridge="br-prov", mtu="1400"))
    assert run.rc == 0 and b'<source bridge="br-prov"/>' in run.data and b'<mtu size="1400"/>' in run.data

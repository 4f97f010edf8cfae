"""Every expected failure is one line of at most 240 characters that names
the field or resource and the fix; bad input never reads "internal error".
Each case asserts the exact line."""

import os
import shutil
import tempfile

import pytest

from vif_driver.api import InvalidInput, Option, VifDriver
from vif_driver.core import dispatch
from vif_driver.core.config import HostConfig

from support import FIXTURES, external_props

FIX = "check the scripts that ran before ours (VDSM itself writes plain JSON objects)"
with open(os.path.join(FIXTURES, "xml", "engine-nic.xml"), "rb") as _f:
    ENGINE = _f.read()


def the_line(run, code):
    assert run.rc == code, run.stderr
    lines = run.stderr.splitlines()
    assert len(lines) == 1, run.stderr
    assert len(lines[0]) <= 240, len(lines[0])
    return lines[0]


@pytest.mark.parametrize("point", ["after_get_caps", "after_get_stats"])
@pytest.mark.parametrize("data, message", [
    (b'{"a": [1, 2', "$_hook_json is not valid JSON: Expecting ',' delimiter at line 1 column 12; " + FIX),
    (b'{\n  "cpuCores": "4",\n  "net', "$_hook_json is not valid JSON: Unterminated string starting at "
                                     "line 3 column 3; " + FIX),
    (b'{"a": 1} {"b": 2}', "$_hook_json is not valid JSON: Extra data at line 1 column 10; " + FIX),
    (b"\xef\xbb\xbf{}", "$_hook_json starts with a UTF-8 byte order mark, which JSON does not allow; " + FIX),
    (b'{"a": ' + b"[" * 100000, "$_hook_json nests JSON arrays or objects too deeply for Python's json module; "
                                + FIX),
    (b'{"a": ' + b"7" * 5000 + b"}", "$_hook_json has an integer of 5000 digits, over Python's limit of 4300 "
                                     "(sys.set_int_max_str_digits); " + FIX),
    (b"[1, 2]", "$_hook_json holds a JSON array, expected an object; " + FIX),
])
def test_bad_caps_and_stats_json(run_hook, test_env, point, data, message):
    run = run_hook(point, data, env=test_env)
    assert the_line(run, 1) == f"vif-driver {point}: {message}"
    assert run.data == data  # left as VDSM (or the script before us) made it


def test_non_utf8_device_xml(run_hook, test_env):
    data = ENGINE.replace(b"vdsmdummy", b"vdsm\xffdummy")
    run = run_hook("before_nic_hotplug", data, env=test_env, device_properties=external_props("TEST_SDN"))
    line = the_line(run, 2)
    offset = data.index(b"\xff")
    assert line.startswith("vif-driver before_nic_hotplug: cannot read $_hook_domxml file /")
    assert line.endswith(f": not UTF-8 (byte 0xff at offset {offset}); VDSM writes UTF-8: "
                         "check the scripts before ours")


@pytest.mark.parametrize("option, hint", [
    ("brdge", "did you mean 'bridge'?"),
    ("zzz", "known: bridge, crash_in, fail_in, log"),
])
def test_unknown_option_in_the_host_config(run_hook, test_env, short_dir, option, hint):
    config = os.path.join(short_dir, "vif-driver.conf")  # as short as /etc/vif-driver/vif-driver.conf
    with open(config, "w") as f:
        f.write(f"[plugin_types]\nTEST_SDN = test\n\n[driver:test]\n{option} = br0\n")
    run = run_hook("before_device_create", ENGINE, env=dict(test_env, VIF_DRIVER_CONFIG=config),
                   device_properties=external_props("TEST_SDN"))
    assert the_line(run, 2) == (f"vif-driver[test] before_device_create vnic {external_props()['vnic_id']}: "
                                f"config {config}: line 5: [driver:test] unknown option '{option}'; {hint}")


@pytest.fixture
def short_dir():
    path = tempfile.mkdtemp(prefix="vifmsg")
    yield path
    shutil.rmtree(path)


class ManyOptions(VifDriver):
    options = {f"option_number_{i:02}": Option("") for i in range(30)}


@pytest.mark.parametrize("option, hint", [
    ("option_numbr_07", "did you mean 'option_number_07'?"),
    ("x", "not one of its 30 options (see the driver's docs)"),
    ("option", "not one of its 30 options (see the driver's docs)"),
])
def test_unknown_option_of_a_driver_with_many_options_stays_short(option, hint):
    config = HostConfig("/etc/vif-driver/vif-driver.conf", driver_options={"many": {option: "1"}},
                        lines={("driver:many", option): 12})
    with pytest.raises(InvalidInput) as info:
        dispatch.resolve_options(ManyOptions(), config, "many", {})
    assert str(info.value) == ("config /etc/vif-driver/vif-driver.conf: line 12: [driver:many] unknown option "
                               f"'{option}'; {hint}")
    prefix = "vif-driver[linux_bridge] before_device_migrate_destination vnic " + "x" * 36 + ": "
    assert len(prefix + str(info.value)) <= 240


def test_unknown_option_of_the_ovs_driver_is_one_short_line(run_hook, config_file):
    """The ovs driver has many options; the line once listed them all (300+ characters)."""
    config = config_file("[plugin_types]\nLINUX_BRIDGE =\n[driver:ovs]\nzzz = 1\n", "ovs.conf")
    run = run_hook("before_device_create", ENGINE, config=config, device_properties=external_props("OPEN_VSWITCH"),
                   env=dict(os.environ, VIF_DRIVER_AGENT_SOCKET="/nonexistent/vif-messages-test.sock"))
    line = the_line(run, 2)
    assert "ovs.conf: line 4: [driver:ovs] unknown option 'zzz'; not one of its " in line
    assert line.endswith(" options (see the driver's docs)")
    assert run.data == ENGINE


def test_over_long_messages_keep_their_start_and_their_fix():
    """A long path is shortened in its middle; without one, the line's middle goes."""
    path = "/var/tmp/" + "d" * 300 + "/db.sock"
    line = dispatch._message("vif-driver[x] before_device_create", InvalidInput(f"a\nb {path} down; the fix"),
                             HostConfig())
    assert len(line) == 240 and line.startswith("vif-driver[x] before_device_create: a b /var/tmp/ddd")
    assert "ddd...ddd" in line and line.endswith("ddd/db.sock down; the fix")
    line = dispatch._message("vif-driver[x] before_device_create", InvalidInput("a " + "word " * 100 + "fix"),
                             HostConfig())
    assert len(line) == 240 and " ... " in line and line.endswith("word fix")

"""A vendor's driver, registered through a real entry point (a dist-info
directory on the path, as `pip install` leaves it), found by `vif-driver
drivers` and by the hooks. Python 3.9's importlib.metadata differs from
3.10+ here (no entry_points(group=)), so this runs on both in CI."""

import json
import os
import subprocess
import sys

import pytest

from support import FIXTURES, external_props

ENGINE_XML = open(os.path.join(FIXTURES, "xml", "engine-nic.xml")).read()
VIF_DRIVER = os.path.join(os.path.dirname(sys.executable), "vif-driver")


def vif_driver(env, *args):
    return subprocess.run([VIF_DRIVER, *args], env=env, capture_output=True, text=True, timeout=60, check=False)


def test_drivers_command_lists_the_vendor_driver(test_env):
    proc = vif_driver(test_env, "drivers")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert "  test             vif_test_driver:TestDriver" in lines
    assert "  ovs              vif_driver.drivers.ovs:OvsDriver" in lines
    mapping = [line for line in lines if "TEST_SDN" in line]
    assert mapping == ["  TEST_SDN                 -> test"]  # installed: no NOT INSTALLED mark


def test_vendor_driver_handles_hooks(run_hook, test_env, tmp_path):
    log = tmp_path / "calls.log"
    props = external_props("TEST_SDN", log=str(log))
    before = run_hook("before_device_create", ENGINE_XML, env=test_env, device_properties=props)
    assert before.rc == 0, before.scripts[0].stderr
    assert '<source bridge="br-test"/>' in before.text
    after = run_hook("after_device_create", "", env=test_env, device_properties=props)
    assert after.rc == 0, after.scripts[0].stderr
    caps = run_hook("after_get_caps", {"networks": {}}, env=test_env)
    assert caps.rc == 0, caps.scripts[0].stderr
    assert caps.json()["openstack_binding_host_ids"]["TEST_SDN"] == "test-host-id"
    calls = [json.loads(line)["call"] for line in log.read_text().splitlines()]
    assert calls == ["plug_device", "plug_device"]


def test_vendor_entry_point_that_is_no_driver_is_refused_in_one_line(run_hook, test_env, config_file):
    env = dict(test_env, VIF_DRIVER_CONFIG=config_file("[plugin_types]\nTEST_SDN = broken\n", name="broken.conf"))
    run = run_hook("before_device_create", ENGINE_XML, env=env, device_properties=external_props("TEST_SDN"))
    assert run.rc == 2 and run.text == ENGINE_XML
    stderr = run.scripts[0].stderr
    assert stderr.count("\n") == 1 and "Traceback" not in stderr
    assert "driver 'broken' (vif_test_driver:NotADriver) is not a VifDriver subclass" in stderr


def test_a_name_registered_twice_resolves_to_the_first_on_the_path(test_env, tmp_path):
    """Two distributions registering `test`: the first on sys.path wins, as
    an import of the same module name would (on every Python version)."""
    other = tmp_path / "other-site"
    dist = other / "other_vendor-2.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: other-vendor\nVersion: 2.0\n")
    (dist / "entry_points.txt").write_text("[vif_driver.drivers]\ntest = other_vendor:Driver\n"
                                           "ovs = other_vendor:Driver\n")
    first = vif_driver(dict(test_env, PYTHONPATH=os.pathsep.join([str(other), test_env["PYTHONPATH"]])), "drivers")
    second = vif_driver(dict(test_env, PYTHONPATH=os.pathsep.join([test_env["PYTHONPATH"], str(other)])), "drivers")
    assert first.returncode == second.returncode == 0, first.stderr + second.stderr
    assert "  test             other_vendor:Driver" in first.stdout.splitlines()
    assert "  test             vif_test_driver:TestDriver" in second.stdout.splitlines()
    # A built-in name is always the built-in driver, and listed as the one loaded.
    for run in (first, second):
        assert "  ovs              vif_driver.drivers.ovs:OvsDriver" in run.stdout.splitlines()


BROKEN_DRIVERS = '''
from vif_driver.core import validate
from vif_driver.api import Option, VifDriver


class Typo(VifDriver):
    def plug_devices(self, domxml, properties):
        return domxml


class Signature(VifDriver):
    def plug_device(self, domxml):
        return domxml


class Default(VifDriver):
    options = {"bridge": Option(15, validate.ifname)}


class Ctor(VifDriver):
    def __init__(self):
        raise OSError("cannot read /etc/sdn.key")
'''
BROKEN = {
    "typo": "driver 'typo' (vendor_broken:Typo): public method plug_devices is not an API method; "
            "did you mean plug_device? (helpers start with _)",
    "signature": "driver 'signature' (vendor_broken:Signature): plug_device(self, domxml) has the wrong "
                 "signature; the framework calls plug_device(domxml, properties)",
    "default": "driver 'default' (vendor_broken:Default): option bridge: default 15 is an int, but ifname "
               "gives a str; make it a str or None",
    "ctor": "driver 'ctor' (vendor_broken:Ctor) failed to start: OSError: cannot read /etc/sdn.key",
    "crash": "driver 'crash' (vendor_crash:Driver) cannot be loaded: RuntimeError: no licence server; "
             "reinstall it",
}


@pytest.fixture
def broken_env(test_env, tmp_path):
    """A vendor distribution whose three drivers break the API, each its own way."""
    site = tmp_path / "broken-site"
    dist = site / "vendor_broken-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: vendor-broken\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[vif_driver.drivers]\ntypo = vendor_broken:Typo\n"
                                           "signature = vendor_broken:Signature\ndefault = vendor_broken:Default\n"
                                           "ctor = vendor_broken:Ctor\ncrash = vendor_crash:Driver\n")
    (site / "vendor_broken.py").write_text(BROKEN_DRIVERS)
    (site / "vendor_crash.py").write_text('raise RuntimeError("no licence server")\n')
    return dict(test_env, PYTHONPATH=os.pathsep.join([str(site), test_env["PYTHONPATH"]]))


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_a_driver_breaking_the_api_is_refused_by_the_hook_in_one_line(run_hook, broken_env, config_file, name):
    env = dict(broken_env, VIF_DRIVER_CONFIG=config_file(f"[plugin_types]\nTEST_SDN = {name}\n", name="b.conf"))
    run = run_hook("before_device_create", ENGINE_XML, env=env, device_properties=external_props("TEST_SDN"))
    assert run.rc == 2 and run.text == ENGINE_XML  # as for any broken driver: the VM start stops, XML untouched
    stderr = run.scripts[0].stderr
    assert stderr.count("\n") == 1 and "Traceback" not in stderr and len(stderr) <= 241
    assert stderr.rstrip("\n").endswith(BROKEN[name]), stderr


def test_doctor_names_drivers_that_fail_to_load_without_a_traceback(broken_env, config_file, tmp_path):
    conf = config_file("[plugin_types]\nA_SDN = crash\nB_SDN = ctor\nOPEN_VSWITCH =\nOVIRT_PROVIDER_OVN =\n"
                       "LINUX_BRIDGE =\n", name="c.conf")
    proc = vif_driver(broken_env, "doctor", "--config", conf, "--hooks-dir", str(tmp_path / "hooks"), "--user", "root")
    assert proc.returncode == 1 and "Traceback" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert f"FAIL  driver crash (A_SDN): {BROKEN['crash']}" in lines
    assert f"FAIL  driver ctor (B_SDN): {BROKEN['ctor']}" in lines


def test_doctor_names_the_broken_driver_and_the_fix(broken_env, config_file, tmp_path):
    conf = config_file("[plugin_types]\nTEST_SDN = typo\nOPEN_VSWITCH =\nOVIRT_PROVIDER_OVN =\nLINUX_BRIDGE =\n",
                       name="d.conf")
    proc = vif_driver(broken_env, "doctor", "--config", conf, "--hooks-dir", str(tmp_path / "hooks"), "--user", "root")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    at = lines.index(f"FAIL  driver typo (TEST_SDN): {BROKEN['typo']}")
    assert lines[at + 1].startswith("      fix: have its author fix the driver class (docs/writing-a-driver.md), "
                                    "or change [plugin_types] in ")

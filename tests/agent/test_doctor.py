"""`vif-driver doctor` on a host set up by the tests, then broken in turn."""

import os
import shutil
import subprocess
import sys

import pytest

from agent_helpers import AGENT_USER

pytestmark = pytest.mark.root

ONLY_TEST = "[plugin_types]\nOPEN_VSWITCH =\nOVIRT_PROVIDER_OVN =\nLINUX_BRIDGE =\nTEST_SDN = test\n"


def doctor(config, hooks, driver_site, socket_path, *extra):
    env = dict(os.environ, PYTHONPATH=driver_site, VIF_DRIVER_AGENT_SOCKET=socket_path)
    proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), "vif-driver"), "doctor",
                           "--config", config, "--hooks-dir", hooks, *extra],
                          capture_output=True, text=True, timeout=60, env=env, check=False)
    return proc.returncode, proc.stdout + proc.stderr


@pytest.fixture
def host(users, shared_dir, stdlib_hooks, driver_site, start_agent):
    config = os.path.join(shared_dir, "doctor.conf")
    with open(config, "w") as f:
        f.write("[vif-driver]\ntimeout = 5\n" + ONLY_TEST)
    os.chmod(config, 0o644)
    agent = start_agent(config)
    return config, stdlib_hooks[0], driver_site, agent


def test_a_good_host_passes(host):
    config, hooks, site, agent = host
    rc, out = doctor(config, hooks, site, agent.socket)
    assert rc == 0, out
    assert "all checks passed" in out
    assert f"({AGENT_USER} may use it)" in out and "driver test handles TEST_SDN" in out


def test_missing_and_unexecutable_hooks(host):
    config, hooks, site, agent = host
    os.unlink(os.path.join(hooks, "after_get_stats", "50_vif_driver"))
    os.chmod(os.path.join(hooks, "before_device_create", "50_vif_driver"), 0o644)
    rc, out = doctor(config, hooks, site, agent.socket)
    assert rc == 1
    assert "hook entrypoints missing" in out and "after_get_stats" in out
    assert "before_device_create/50_vif_driver (mode -rw-r--r--)" in out and "chmod 0755" in out


def test_our_entrypoint_left_under_its_old_name_fails(host):
    """An earlier install's before_network_setup/50_vif_driver would run too,
    after VDSM's 50_fcoe: named, with the fix."""
    config, hooks, site, agent = host
    old = os.path.join(hooks, "before_network_setup", "50_vif_driver")
    shutil.copy(os.path.join(hooks, "before_network_setup", "10_vif_driver"), old)
    rc, out = doctor(config, hooks, site, agent.socket)
    assert rc == 1
    assert f"FAIL  old vif-driver entrypoints VDSM runs as well, after VDSM's own scripts: {old}" in out
    assert f"remove them (rm {old})" in out
    os.unlink(old)
    rc, out = doctor(config, hooks, site, agent.socket)
    assert rc == 0, out


def test_missing_agent_socket_says_how_to_start_it(host):
    config, hooks, site, _ = host
    rc, out = doctor(config, hooks, site, "/nonexistent/agent.sock")
    assert rc == 1 and "systemctl enable --now vif-driverd.socket" in out


def test_socket_the_vdsm_user_cannot_use(host):
    config, hooks, site, agent = host
    os.chmod(agent.socket, 0o600)
    rc, out = doctor(config, hooks, site, agent.socket)
    assert rc == 1 and f"not writable by {AGENT_USER}" in out and "SocketGroup=" in out


def doctor_with(host, shared_dir, text):
    """Run doctor on the test host with a config holding ``text``."""
    _, hooks, site, agent = host
    path = os.path.join(shared_dir, "doctor.conf")
    with open(path, "w") as f:
        f.write(text)
    return doctor(path, hooks, site, agent.socket)


def test_invalid_config_and_unknown_driver(host, shared_dir):
    rc, out = doctor_with(host, shared_dir, "[vif-driver]\ntimeout = never\n")
    assert rc == 1 and "timeout" in out and "FAIL" in out
    rc, out = doctor_with(host, shared_dir, ONLY_TEST + "OTHER_SDN = nosuchdriver\n")
    assert rc == 1 and "no driver named 'nosuchdriver'" in out


def test_unreachable_ovs_and_missing_bridge(host, shared_dir, ovs):
    rc, out = doctor_with(host, shared_dir,
                          "[plugin_types]\nLINUX_BRIDGE =\n[driver:ovs]\novsdb = unix:/nonexistent/db.sock\n")
    assert rc == 1 and "Open vSwitch is down at unix:/nonexistent/db.sock" in out
    rc, out = doctor_with(host, shared_dir,
                          f"[plugin_types]\nLINUX_BRIDGE =\n[driver:ovs]\novsdb = {ovs.remote}\nbridge = br-missing\n")
    assert rc == 1 and f"ok    Open vSwitch answers at {ovs.remote}" in out
    assert f"Open vSwitch system-id {ovs.system_id}" in out
    assert "FAIL  OVS bridge br-missing does not exist" in out and "ovs-vsctl add-br br-missing" in out


def _foreign_hook(hooks, point, name, text="#!/bin/sh\nexit 0\n"):
    path = os.path.join(hooks, point, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o755)
    return path


OVN_MAPPED = "[vif-driver]\ntimeout = 5\n[plugin_types]\nOPEN_VSWITCH =\nLINUX_BRIDGE =\nOVIRT_PROVIDER_OVN = test\n"


def test_plugin_type_handled_twice_is_warned_with_how_to_keep_one(host, shared_dir):
    """ovirt-provider-ovn-driver's hook and ours both rewrite OVIRT_PROVIDER_OVN
    vNICs: listed per plugin type, warned, with both ways out."""
    _, hooks, _, _ = host
    for point in ("before_device_create", "before_nic_hotplug"):
        _foreign_hook(hooks, point, "10_ovirt_provider_ovn_hook")
    _foreign_hook(hooks, "after_get_caps", "ovirt_provider_ovn_hook")
    _foreign_hook(hooks, "before_device_create", "30_other_sdn", "#!/bin/sh\n# plugin_type MY_SDN\nexit 0\n")
    rc, out = doctor_with(host, shared_dir, OVN_MAPPED + "MY_SDN = test\n")
    assert rc == 0, out  # a warning, not a failure
    assert ("WARN  plugin type OVIRT_PROVIDER_OVN is handled twice in after_get_caps, before_device_create, "
            "before_nic_hotplug: 10_ovirt_provider_ovn_hook (ovirt-provider-ovn-driver) in before_device_create, "
            "before_nic_hotplug; 50_vif_driver (vif-driver, driver test) in 19 hook points; ovirt_provider_ovn_hook "
            "(ovirt-provider-ovn-driver) in after_get_caps; every vNIC is rewritten twice") in out
    assert "dnf remove ovirt-provider-ovn-driver" in out and "'OVIRT_PROVIDER_OVN =' in [plugin_types]" in out
    assert "WARN  plugin type MY_SDN is handled twice in before_device_create: 30_other_sdn in" in out
    assert "keep one: remove the script 30_other_sdn or unmap it from vif-driver ('MY_SDN ='" in out
    # unmapped from vif-driver: one handler left, listed, no warning
    rc, out = doctor_with(host, shared_dir, OVN_MAPPED.replace("OVIRT_PROVIDER_OVN = test", "OVIRT_PROVIDER_OVN ="))
    assert "WARN" not in out, out
    assert ("ok    plugin type OVIRT_PROVIDER_OVN: handled by 10_ovirt_provider_ovn_hook (ovirt-provider-ovn-driver) "
            "in before_device_create, before_nic_hotplug; ovirt_provider_ovn_hook (ovirt-provider-ovn-driver) in "
            "after_get_caps") in out


def test_not_executable_foreign_hook_does_not_count(host, shared_dir):
    _, hooks, _, _ = host
    os.chmod(_foreign_hook(hooks, "before_device_create", "10_ovirt_provider_ovn_hook"), 0o644)
    rc, out = doctor_with(host, shared_dir, OVN_MAPPED)
    assert rc == 0 and "WARN" not in out, out
    assert "ok    plugin type OVIRT_PROVIDER_OVN: handled by 50_vif_driver (vif-driver, driver test)" in out


def test_reinstall_hint_uses_the_installed_interpreter(host, shared_dir, tmp_path):
    """Not a fixed /usr/bin/python3: the installed entrypoints' interpreter,
    else the one of the running install (a venv's)."""
    config, hooks, site, agent = host
    shebang = open(os.path.join(hooks, "after_get_caps", "50_vif_driver")).readline()[2:].split()[0]
    os.unlink(os.path.join(hooks, "after_get_stats", "50_vif_driver"))
    rc, out = doctor(config, hooks, site, agent.socket)
    assert rc == 1 and f"vif-driver install-hooks --destdir / --interpreter {shebang}\n" in out
    empty = tmp_path / "no-hooks"
    empty.mkdir()
    rc, out = doctor(config, str(empty), site, agent.socket)
    assert rc == 1 and f"--interpreter {sys.executable}\n" in out


def test_ovs_start_hint_names_this_hosts_unit(tmp_path):
    from vif_driver.drivers.ovs.remote import start_hint
    debian, el, none = (tmp_path / name for name in ("debian", "el", "none"))
    for directory in (debian, el, none):
        directory.mkdir()
    (debian / "openvswitch-switch.service").write_text("")
    (el / "openvswitch.service").write_text("")
    assert start_hint([str(none), str(debian)]) == "systemctl start openvswitch-switch"
    assert start_hint([str(el)]) == "systemctl start openvswitch"
    assert start_hint([str(none)]) == "systemctl start openvswitch (EL) or openvswitch-switch (Debian)"

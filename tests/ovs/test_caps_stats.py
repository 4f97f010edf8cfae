"""after_get_caps and after_get_stats against a real Open vSwitch."""

import json
import os
import time

from ovs_helpers import MAC, OTHER_VNIC, VM_ID, VNIC_ID, tap

VDSM_KEYS = {"name", "rx", "tx", "rxDropped", "txDropped", "rxErrors", "txErrors", "speed", "state",
             "duplex", "sampleTime"}
VDSM_CAPS = {"hooks": {}, "openstack_binding_host_ids": {"OTHER": "keep-me"}, "version_name": "Snow Man"}


def test_caps_report_the_system_id_for_every_plugin_type(run_hook, ovs_config, ovs):
    config = ovs_config()
    run = run_hook("after_get_caps", VDSM_CAPS, config=config)
    assert run.rc == 0 and run.stderr == ""
    caps = run.json()
    assert caps["openstack_binding_host_ids"] == {"OTHER": "keep-me", "OPEN_VSWITCH": ovs.system_id,
                                                  "OVIRT_PROVIDER_OVN": ovs.system_id}
    assert caps["version_name"] == "Snow Man" and caps["hooks"] == {}
    section = caps["vif_driver"]
    assert section["version"] == "0.1.0"
    assert section["drivers"]["ovs"] == {"plugin_types": ["OPEN_VSWITCH", "OVIRT_PROVIDER_OVN"],
                                         "system_id": ovs.system_id, "bridges": {"br-int": {"exists": True}}}
    again = run_hook("after_get_caps", caps, config=config)
    assert again.rc == 0 and again.json() == caps


def _mapped_config(config_file, ovs, bridge):
    return config_file(f"""
        [plugin_types]
        OVIRT_PROVIDER_OVN =
        LINUX_BRIDGE =
        MY_SDN = ovs
        [driver:ovs]
        ovsdb = {ovs.remote}
        bridge = {bridge}
    """)


def test_caps_follow_the_plugin_type_mapping(run_hook, ovs, config_file):
    caps = run_hook("after_get_caps", {}, config=_mapped_config(config_file, ovs, "br-int")).json()
    assert caps["openstack_binding_host_ids"] == {"MY_SDN": ovs.system_id, "OPEN_VSWITCH": ovs.system_id}
    assert caps["vif_driver"]["drivers"]["ovs"]["bridges"] == {"br-int": {"exists": True}}


def test_caps_claim_no_binding_without_the_integration_bridge(run_hook, ovs, config_file):
    """OVS answers but the configured bridge is missing: the host cannot plug
    a vNIC, so it must not tell the engine it can bind ports."""
    run = run_hook("after_get_caps", VDSM_CAPS, config=_mapped_config(config_file, ovs, "br-missing"))
    assert run.rc == 0
    caps = run.json()
    assert caps["openstack_binding_host_ids"] == {"OTHER": "keep-me"}
    assert caps["vif_driver"]["drivers"]["ovs"]["bridges"] == {"br-missing": {"exists": False}}
    assert run.stderr.count("\n") == 1 and "ovs-vsctl add-br br-missing" in run.stderr


def test_caps_without_system_id(run_hook, ovs_config, ovs):
    ovs.vsctl("remove", "Open_vSwitch", ".", "external_ids", "system-id", wait=False)
    run = run_hook("after_get_caps", {}, config=ovs_config())
    assert run.rc == 0
    assert "openstack_binding_host_ids" not in run.json()
    assert run.stderr.count("\n") == 1 and "external_ids:system-id=$(uuidgen)" in run.stderr


def test_caps_degrade_quietly_when_ovs_is_stopped(run_hook, down_config):
    run = run_hook("after_get_caps", VDSM_CAPS, config=down_config)
    assert run.rc == 0
    assert run.json() == VDSM_CAPS
    assert run.stderr.count("\n") == 1 and "Open vSwitch is down" in run.stderr and "caps not reported" in run.stderr


def test_caps_degrade_quietly_when_ovs_hangs(run_hook, ovs_config, ovs):
    config = ovs_config(timeout=1)
    ovs.pause_db()
    try:
        start = time.monotonic()
        run = run_hook("after_get_caps", VDSM_CAPS, config=config, timeout=30)
        elapsed = time.monotonic() - start
    finally:
        ovs.resume_db()
    assert run.rc == 0 and run.json() == VDSM_CAPS
    assert run.stderr.count("\n") == 1 and "did not answer within 1 s" in run.stderr
    assert elapsed < 4


def _vdsm_stats():
    return {"cpuUser": "1.5", "network": {"eth0": {"name": "eth0", "rx": "7", "tx": "9", "state": "up"}}}


def test_stats_of_external_vnics_in_vdsm_shape(run_hook, ovs_config, ovs, plug):
    plug()
    plug(vnic_id=OTHER_VNIC)
    ovs.plug_tap("vnet3", iface_id="not-ours", mac=MAC, vm_id=VM_ID)  # another provider's naming
    ovs.vsctl("add-port", "br-int", "eth9", "--", "set", "Interface", "eth9", "type=internal")
    run = run_hook("after_get_stats", _vdsm_stats(), config=ovs_config())
    assert run.rc == 0 and run.stderr == ""
    stats = run.json()
    assert stats["cpuUser"] == "1.5" and stats["network"]["eth0"]["rx"] == "7"
    assert sorted(stats["network"]) == sorted(["eth0", tap(), tap(OTHER_VNIC)])
    entry = stats["network"][tap()]
    assert set(entry) == VDSM_KEYS
    assert entry["name"] == tap() and entry["state"] in ("up", "down")
    for key in ("rx", "tx", "rxDropped", "txDropped", "rxErrors", "txErrors", "speed"):
        assert isinstance(entry[key], str) and entry[key].isdigit(), key
    assert abs(entry["sampleTime"] - time.time()) < 60
    assert entry["tx"] == ovs.vsctl("get", "Interface", tap(), "statistics:tx_bytes", wait=False).strip()


def test_stats_counters_are_the_kernels(run_hook, ovs_config, ovs, plug):
    """Counters come from the kernel (what libvirt and VDSM read for VM NICs),
    link state from OVS: the hook reports what /proc/net/dev says in the
    switch's namespace, and the link_state ovs-vswitchd maintains (it
    rewrites the column from the tap's carrier, so the test reads it around
    the hook rather than setting it)."""
    import subprocess
    plug()

    def link_state():
        return ovs.vsctl("get", "Interface", tap(), "link_state", wait=False).strip().strip('"')

    for _ in range(5):
        before = link_state()
        entry = run_hook("after_get_stats", {}, config=ovs_config()).json()["network"][tap()]
        if before in ("up", "down") and link_state() == before:
            break
    else:
        raise AssertionError(f"ovs-vswitchd's link_state of {tap()} never settled (last: {before!r})")
    out = subprocess.run(["ip", "netns", "exec", ovs.netns, "cat", "/proc/net/dev"], capture_output=True,
                         text=True, timeout=10, check=True).stdout
    line = next(v for v in out.splitlines() if v.strip().startswith(tap() + ":"))
    kernel = line.split(":", 1)[1].split()
    assert (entry["rx"], entry["rxErrors"], entry["rxDropped"]) == (kernel[0], kernel[2], kernel[3])
    assert (entry["tx"], entry["txErrors"], entry["txDropped"]) == (kernel[8], kernel[10], kernel[11])
    assert entry["state"] == before and entry["speed"] == "1000"


def test_stats_twice_are_alike(run_hook, ovs_config, ovs, plug):
    plug()
    first = run_hook("after_get_stats", _vdsm_stats(), config=ovs_config()).json()
    second = run_hook("after_get_stats", first, config=ovs_config()).json()
    assert set(first["network"]) == set(second["network"])
    assert set(second["network"][tap()]) == VDSM_KEYS


def test_stats_degrade_quietly_when_ovs_is_stopped(run_hook, tmp_path, down_config):
    # taps in another namespace (netns): only the driver can report them
    with open(down_config, "a") as f:
        f.write("netns = vif-test-elsewhere\n")
    run = run_hook("after_get_stats", _vdsm_stats(), config=down_config)
    assert run.rc == 0 and run.json() == _vdsm_stats()
    assert run.stderr.count("\n") == 1 and "vNIC stats not reported" in run.stderr


def test_stats_in_vdsms_namespace_leave_its_document_unread(run_hook, down_config):
    """Without netns the taps are in VDSM's namespace, whose every link VDSM
    lists: the driver is not asked (no OVSDB read, so no warning although
    OVS is down) and the document stays byte for byte as VDSM wrote it, even
    one json could not read."""
    for document in (json.dumps(_vdsm_stats()), '{"network": {"eth0": '):
        run = run_hook("after_get_stats", document, config=down_config)
        assert (run.rc, run.stderr, run.data) == (0, "", document.encode())


def test_stats_degrade_quietly_when_ovs_hangs(run_hook, ovs_config, ovs):
    config = ovs_config(timeout=1)
    ovs.pause_db()
    try:
        run = run_hook("after_get_stats", _vdsm_stats(), config=config, timeout=30)
    finally:
        ovs.resume_db()
    assert run.rc == 0 and run.json() == _vdsm_stats()
    assert "did not answer within 1 s" in run.stderr


def test_dry_run_stats_show_the_one_read(run_hook, ovs_config, ovs, plug):
    plug()
    env = dict(os.environ, VIF_DRIVER_DRY_RUN="1")
    run = run_hook("after_get_stats", {}, config=ovs_config(), env=env)
    assert run.rc == 0 and tap() in run.json()["network"]
    reads = [line for line in run.stderr.splitlines() if "OVSDB" in line]
    assert reads == [f"dry-run: read OVSDB {ovs.remote}: Interface name,link_state of every row"]
    assert any(line.startswith("dry-run: read kernel counters of ") for line in run.stderr.splitlines())
    assert VNIC_ID


def test_docs_caps_example_is_what_the_code_reports(run_hook, ovs_config, ovs):
    import json

    from ovs_helpers import docs_json
    example = json.loads("{" + docs_json("ovs-driver.md", "### Caps").replace("<system-id>", ovs.system_id) + "}")
    caps = run_hook("after_get_caps", {}, config=ovs_config()).json()
    caps["vif_driver"]["version"] = "0.1.0"
    assert caps == example

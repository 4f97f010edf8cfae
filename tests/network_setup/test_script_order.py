"""The network-setup entrypoint is 10_vif_driver: VDSM runs a hook
directory's scripts in sorted order and stops at an exit 2, so our refusal
comes before VDSM's own before_network_setup/50_fcoe (which writes
/etc/fcoe/cfg-NIC and restarts lldpad and fcoe) changes the host for a
setup that is then aborted. An install over an earlier one removes our
50_vif_driver there, and only ours."""

import json
import os

from vif_driver.hook.points import HOOK_POINTS
from vif_driver.tools import install

from ns_helpers import net, one_line, request

NETWORK_SETUP_POINTS = ("before_network_setup", "after_network_setup", "after_network_setup_fail")


def _fcoe_stand_in(hooks_root, marker) -> None:
    """VDSM's 50_fcoe, as far as order goes: it changes the host when it runs."""
    path = hooks_root / "before_network_setup" / "50_fcoe"
    path.write_text(f"#!/bin/sh\necho ran > '{marker}'\nexit 0\n")
    path.chmod(0o755)


def test_a_refusal_comes_before_vdsms_fcoe_hook(run_hook, hooks_root, setup_env, tmp_path):
    marker = tmp_path / "fcoe-ran"
    _fcoe_stand_in(hooks_root, marker)
    data = json.dumps(request({"x": net("eth4", custom={"underlay": "tunel"})}))
    run = run_hook("before_network_setup", data, env=setup_env())
    assert run.rc == 2 and run.aborted
    assert "custom property underlay" in one_line(run)
    assert [os.path.basename(s.path) for s in run.scripts] == ["10_vif_driver"]
    assert not marker.exists(), "VDSM's 50_fcoe ran before our refusal"


def test_a_passing_setup_still_runs_vdsms_fcoe_hook(run_hook, hooks_root, setup_env, tmp_path):
    marker = tmp_path / "fcoe-ran"
    _fcoe_stand_in(hooks_root, marker)
    run = run_hook("before_network_setup", json.dumps(request({"y": net("eth4")})), env=setup_env())
    assert run.rc == 0, run.stderr
    assert [os.path.basename(s.path) for s in run.scripts] == ["10_vif_driver", "50_fcoe"]
    assert marker.exists()


def test_installed_names(hooks_root):
    for point in HOOK_POINTS:
        names = sorted(os.listdir(hooks_root / point))
        assert names == (["10_vif_driver"] if point in NETWORK_SETUP_POINTS else ["50_vif_driver"]), (point, names)


def test_an_install_over_an_earlier_one_removes_only_our_old_name(hooks_root, tmp_path):
    """An earlier version installed 50_vif_driver in every point: left
    there, VDSM would run it too, after 50_fcoe. Another package's script,
    even one named like ours, stays."""
    ours = (hooks_root / "before_device_create" / "50_vif_driver").read_bytes()
    for point in NETWORK_SETUP_POINTS:
        old = hooks_root / point / "50_vif_driver"
        old.write_bytes(ours)
        old.chmod(0o755)
    foreign = hooks_root / "after_network_setup" / "50_vif_driver"
    foreign.write_text("#!/bin/sh\n# someone else's\nexit 0\n")
    written = install.install_hooks(str(hooks_root), "/usr/bin/python3", hooks_dir="")
    assert sorted(os.path.basename(p) for p in written if "network_setup" in p) == ["10_vif_driver"] * 3
    assert not (hooks_root / "before_network_setup" / "50_vif_driver").exists()
    assert not (hooks_root / "after_network_setup_fail" / "50_vif_driver").exists()
    assert foreign.read_text() == "#!/bin/sh\n# someone else's\nexit 0\n"
    assert (hooks_root / "before_device_create" / "50_vif_driver").exists()

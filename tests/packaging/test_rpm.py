"""`make rpm` (as an unprivileged user, see conftest.py): the three
packages, what they hold and require, their scripts, file modes, the %check
run, rpmlint, and the installed files running a whole OVS lifecycle as the
vdsm user."""

import os
import re
import shutil
import subprocess
import tarfile

import pytest
from pkg_helpers import HOOK_POINTS_DIR, require_root, require_tool, rpm_query

from vif_driver.hook.points import HOOK_POINTS

pytestmark = pytest.mark.packaging

PY = "python3-vif-driver"
PROVIDER = "python3-vif-driver-provider"
HOOK = "vdsm-hook-vif-driver"


def test_sdist_carries_what_the_spec_installs(built):
    with tarfile.open(built["sdist"]) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    for needed in ("systemd/vif-driverd.socket", "systemd/vif-driverd.service", "etc/vif-driver.conf",
                   "rpm/vif-driver.spec", "rpm/50-vif-driver.preset", "vif_driver/agent/server.py",
                   "tests/conftest.py", "LICENSE", "README.md"):
        assert needed in names, f"{needed} is not in the sdist (MANIFEST.in)"


def test_three_noarch_packages_and_a_source_package(built):
    assert set(built) >= {PY, PROVIDER, HOOK, "src"}
    for name in (PY, PROVIDER, HOOK):
        assert built[name].endswith(".noarch.rpm")
        assert rpm_query(built[name], "--qf", "%{ARCH}") == "noarch"


def test_library_package_files(built):
    files = rpm_query(built[PY], "-l").split()
    assert "/usr/bin/vif-driver" in files and "/usr/bin/vif-driverd" in files
    assert "/usr/lib/systemd/system/vif-driverd.socket" in files
    assert "/usr/lib/systemd/system/vif-driverd.service" in files
    assert any(f.endswith("/site-packages/vif_driver/agent/server.py") for f in files)
    assert any(f.endswith("/site-packages/vif_driver-0.1.0.dist-info/entry_points.txt") for f in files)
    assert not [f for f in files if f.startswith(HOOK_POINTS_DIR)]


def test_hook_package_owns_exactly_its_files(built):
    files = rpm_query(built[HOOK], "-l").split()
    hooks = sorted(f for f in files if f.startswith(HOOK_POINTS_DIR))
    # 10_vif_driver in the network-setup points: before_network_setup runs before VDSM's 50_fcoe
    assert hooks == sorted(f"{HOOK_POINTS_DIR}/{p}/{'10' if 'network_setup' in p else '50'}_vif_driver"
                           for p in HOOK_POINTS)
    assert f"{HOOK_POINTS_DIR}/before_network_setup/10_vif_driver" in hooks
    assert HOOK_POINTS_DIR not in files  # VDSM owns the hook directories
    assert "/etc/vif-driver/vif-driver.conf" in files
    assert not [f for f in files if "sudoers" in f]  # the agent replaces sudo


def test_hook_file_modes_and_shebang(built):
    modes = rpm_query(built[HOOK], "--qf", "[%{FILEMODES:perms} %{FILEUSERNAME}:%{FILEGROUPNAME} "
                                           "%{FILEFLAGS:fflags} %{FILENAMES}\n]")
    rows = [line.split(" ", 3) for line in modes.splitlines()]
    for perms, owner, flags, name in rows:
        if name.startswith(HOOK_POINTS_DIR):
            assert perms == "-rwxr-xr-x" and owner == "root:root", (perms, name)
        if name == "/etc/vif-driver/vif-driver.conf":
            assert "c" in flags and "n" in flags  # %config(noreplace)
            assert perms == "-rw-r--r--"
    payload = subprocess.run(["rpm2cpio", built[HOOK]], capture_output=True, check=True, timeout=60).stdout
    assert b"#!/usr/bin/python3\n" in payload


def test_requires(built):
    hook = rpm_query(built[HOOK], "--requires").split("\n")
    for needed in ("vdsm", "python3-lxml", "python3-openvswitch", "python3-pyroute2", "python3-click",
                   "/usr/bin/python3"):
        assert needed in hook, hook
    assert "python3-vif-driver = 0.1.0-1" in hook
    lib = rpm_query(built[PY], "--requires").split("\n")
    for needed in ("python3-lxml", "python3-openvswitch", "python3-pyroute2", "python3-click"):
        assert needed in lib, lib


def test_only_the_provider_package_needs_flask_and_gunicorn(built):
    provider = rpm_query(built[PROVIDER], "--requires").split("\n")
    for needed in ("python3-flask", "python3-gunicorn", "python3-vif-driver = 0.1.0-1"):
        assert needed in provider, provider
    for name in (PY, HOOK):
        requires = rpm_query(built[name], "--requires")
        assert "flask" not in requires and "gunicorn" not in requires, requires
    files = rpm_query(built[PROVIDER], "-l").split()  # dependencies only: its license, no code
    assert [f for f in files if f.endswith("/LICENSE")] and all(f.startswith("/usr/share/licenses/") for f in files)


def test_scripts_manage_the_units_as_el_macros_do(built):
    scripts = rpm_query(built[HOOK], "--scripts")
    post = scripts.split("postinstall scriptlet")[1].split("preuninstall scriptlet")[0]
    preun = scripts.split("preuninstall scriptlet")[1].split("postuninstall scriptlet")[0]
    postun = scripts.split("postuninstall scriptlet")[1]
    assert "if [ $1 -eq 1 ]" in post and "preset vif-driverd.socket vif-driverd.service" in post
    assert "systemctl start vif-driverd.socket" in post
    assert "if [ $1 -eq 0 ]" in preun and "disable --now vif-driverd.socket vif-driverd.service" in preun
    assert "if [ $1 -ge 1 ]" in postun and "try-restart vif-driverd.service" in postun
    preset = subprocess.run(["rpm2cpio", built[HOOK]], capture_output=True, check=True, timeout=60).stdout
    assert b"enable vif-driverd.socket" in preset


def test_check_section_passed_as_an_unprivileged_builder(built):
    """%check's own pytest summary: the unprivileged selection ran (the
    hooks in-process through VIF_DRIVER_IN_PROCESS) and nothing failed."""
    assert built["uid"] != 0
    assert "Executing(%check)" in built["log"]
    check = built["log"].split("Executing(%check)", 1)[1]
    summary = re.search(r"^=*\s*((?:\d+ \w+(?:, )?)+) in [\d.]+s", check, re.M)
    assert summary, check[-3000:]
    counts = {kind: int(n) for n, kind in re.findall(r"(\d+) (\w+)", summary.group(1))}
    assert counts.get("passed", 0) >= 150, summary.group(0)  # 160 when written: no silent shrinking
    assert not {"failed", "error", "errors"} & set(counts), summary.group(0)
    assert counts.get("deselected", 0) > 0, summary.group(0)  # root/OVS/netns/... tests stay out


def test_rpmlint_reports_no_errors(built, tmp_path):
    """Signed first with a throw-away key, known to a throw-away rpm database
    (a distribution signs its builds; unsigned or unknown-key signatures are
    rpmlint's only other errors for a local build)."""
    require_tool("rpmlint", "rpmsign", "gpg")
    home = tmp_path / "home"
    (home / "gnupg").mkdir(parents=True, mode=0o700)
    env = dict(os.environ, GNUPGHOME=str(home / "gnupg"), HOME=str(home))
    run = dict(env=env, check=True, capture_output=True, timeout=120)
    subprocess.run(["gpg", "--batch", "--passphrase", "", "--quick-gen-key", "vif-driver test <test@invalid>",
                    "rsa2048", "sign", "1d"], **run)
    key = subprocess.run(["gpg", "--export", "--armor", "vif-driver test"], **run).stdout
    (tmp_path / "key.asc").write_bytes(key)
    db = tmp_path / "rpmdb"
    subprocess.run(["rpm", "--dbpath", str(db), "--initdb"], **run)
    subprocess.run(["rpm", "--dbpath", str(db), "--import", str(tmp_path / "key.asc")], **run)
    (home / ".rpmmacros").write_text(f"%_dbpath {db}\n")  # rpmlint's rpm reads it
    copies = []
    for name in (PY, PROVIDER, HOOK, "src"):
        copy = tmp_path / os.path.basename(built[name])
        copy.write_bytes(open(built[name], "rb").read())
        copies.append(str(copy))
    gpg = shutil.which("gpg")
    subprocess.run(["rpmsign", "--addsign", "--define", "_gpg_name vif-driver test", "--define", f"__gpg {gpg}",
                    *copies], **run)
    subprocess.run(["gpgconf", "--kill", "gpg-agent"], env=env, capture_output=True, timeout=30,
                   check=False)  # signing started one; leave no daemon behind
    spec = os.path.join(built["tree"], "rpm", "vif-driver.spec")
    proc = subprocess.run(["rpmlint", *copies, spec], capture_output=True, text=True, timeout=300, env=env,
                          check=False)
    errors = [line for line in proc.stdout.splitlines() if ": E: " in line]
    assert errors == [], proc.stdout
    assert " 0 errors" in proc.stdout, proc.stdout


@pytest.mark.root
@pytest.mark.ovs
def test_installed_rpms_run_the_ovs_lifecycle_as_vdsm(built, tmp_path):
    """`rpm -i --root`: the agent from the installed /usr/bin/vif-driverd and
    site-packages, the installed hooks (#!/usr/bin/python3, standard library
    only) run as vdsm by the emulated VDSM runner, on a throw-away OVS."""
    require_root()
    require_tool("rpm", "ovs-vsctl", "ovsdb-server", "ovs-vswitchd")
    import tempfile

    from pkg_helpers import agent_helpers as helpers
    helpers.ensure_user(helpers.AGENT_USER)
    root = tempfile.mkdtemp(prefix="vif-rpm-root-")
    try:
        os.chmod(root, 0o755)
        subprocess.run(["rpm", "--root", root, "--initdb"], check=True, timeout=60)
        subprocess.run(["rpm", "-i", "--root", root, "--nodeps", "--noscripts", built[PY], built[HOOK]],
                       check=True, capture_output=True, timeout=300)
        _run_lifecycle_from(root, tmp_path, helpers)
    finally:
        subprocess.run(["rm", "-rf", "--one-file-system", root], check=False, timeout=120)


def _run_lifecycle_from(root, tmp_path, helpers):
    import glob
    import sys
    import time

    from vif_driver.tools.sandbox.ovs import OvsSandbox
    site = glob.glob(os.path.join(root, "usr/lib/python3*/site-packages"))[0]
    hooks = os.path.join(root, HOOK_POINTS_DIR.lstrip("/"))
    box = OvsSandbox()
    agent = None
    try:
        box.start()
        box.add_bridge("br-int")
        config = box.write_config(os.path.join(root, "etc/vif-driver/test.conf"), timeout=3, plug_timeout=3)
        os.chmod(config, 0o644)
        sock = os.path.join(root, "run/vif-driver/agent.sock")
        log = open(tmp_path / "installed-agent.log", "wb")
        env = dict(os.environ, PYTHONPATH=site)  # the venv gives lxml/ovs, the code is the installed one
        agent = subprocess.Popen([sys.executable, os.path.join(root, "usr/bin/vif-driverd"),
                                  "--listen", sock, "--config", config], env=env, stdout=log, stderr=log)
        deadline = time.monotonic() + 20
        while not os.path.exists(sock) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert os.path.exists(sock), (tmp_path / "installed-agent.log").read_text()

        def libvirt(fixture, result):
            assert result.rc == fixture.expect.get("exit_code", 0), (fixture.path, result.stderr)
            if fixture.hook_point == "before_device_create":
                vnic = fixture.device_properties["vnic_id"]
                box.plug_tap("tap" + vnic[:11], iface_id=vnic, mac="00:1a:4a:16:01:51", vm_id=fixture.vm_id)
        results = helpers.lifecycle(os.path.join(helpers.FIXTURES, "lifecycle", "ovs"), hooks,
                                    helpers.hook_env(config, sock, site), user=helpers.AGENT_USER,
                                    after_step=libvirt)
        assert len(results) == 15 and all(r.rc == 0 for _, r in results)
        assert "openvswitch" in results[0][1].text
        assert box.ports() == []
        with open(os.path.join(hooks, "before_device_create", "50_vif_driver")) as f:
            assert f.readline() == f"#!{helpers.SYSTEM_PYTHON}\n"
        uid = helpers.pwd.getpwnam(helpers.AGENT_USER).pw_uid
        assert f"uid {uid} ({helpers.AGENT_USER})" in (tmp_path / "installed-agent.log").read_text()
    finally:
        if agent:
            agent.terminate()
            agent.wait(timeout=30)
        box.stop()

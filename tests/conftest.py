"""Shared fixtures: installed hook entrypoints, the emulated VDSM runner,
host configs, libvirt's XML parser and the rule for missing real parts."""

import os
import shutil
import subprocess
import sys
import textwrap

import pytest

from vif_driver.hook.entry import IN_PROCESS_ENV
from vif_driver.tools import install, runner

import support
from support import HERE, VM_ID, require_root, require_tool

# The real parts a test needs, as markers (setup.cfg [tool:pytest]), from its
# directory and the fixtures it uses (with the fixtures those use), so the
# RPM's %check can select what an unprivileged builder (mock, koji) can run:
#   -m "not (ovs or netns or libvirt or root or agent or demo or provider or packaging)"
MARKERS_BY_DIRECTORY = {"agent": ("agent", "root"), "demo": ("demo", "root", "ovs", "netns"),
                        "provider": ("provider",), "packaging": ("packaging",)}
MARKERS_BY_FIXTURE = {"ovs": ("ovs", "root"), "host": ("netns", "root"), "guests": ("netns", "root"),
                      "libvirt_define": ("libvirt",), "users": ("root",)}


def pytest_collection_modifyitems(config, items):
    for item in items:
        top = os.path.relpath(str(item.fspath), HERE).split(os.sep, 1)[0]
        names = set(MARKERS_BY_DIRECTORY.get(top, ()))
        for fixture in getattr(item, "fixturenames", ()):
            names.update(MARKERS_BY_FIXTURE.get(fixture, ()))
        for name in sorted(names - {m.name for m in item.iter_markers()}):
            item.add_marker(name)


@pytest.fixture(autouse=True)
def _in_process_when_unprivileged(monkeypatch):
    """Unprivileged (an RPM's %check), hooks run in-process through the
    development switch; without it entry.call refuses them and asks for the
    agent. As root nothing is set: root's hooks run in-process anyway, and
    the hooks tests run as vdsm get an environment of their own."""
    if os.geteuid() != 0:
        monkeypatch.setenv(IN_PROCESS_ENV, "1")


@pytest.fixture
def hooks_root(tmp_path):
    """A VDSM hooks root with our entrypoint in every supported hook point."""
    root = tmp_path / "hooks"
    install.install_hooks(str(root), sys.executable, hooks_dir="")
    return root


@pytest.fixture
def config_file(tmp_path):
    """Write a host config; returns its path."""
    def write(text: str, name: str = "vif-driver.conf") -> str:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text))
        return str(path)
    return write


@pytest.fixture
def run_hook(hooks_root):
    """Run a hook point through the emulated VDSM runner."""
    def run(hook_point, data="", *, device_properties=None, vm_properties=None, vm_id=VM_ID,
            config=None, env=None, root=None, **kwargs):
        base = dict(os.environ) if env is None else dict(env)
        if env is None:
            base.pop("VIF_DRIVER_CONFIG", None)
        if config:
            base["VIF_DRIVER_CONFIG"] = config
        return runner.run_hooks(str(root or hooks_root), hook_point, data,
                                device_properties=device_properties, vm_properties=vm_properties,
                                vm_id=vm_id, base_env=base, **kwargs)
    return run


@pytest.fixture
def libvirt_define():
    """Check an <interface> with libvirt's own parser: wrap it in a minimal
    domain, `virsh -c test:///default define` it and return libvirt's
    dumpxml of the domain."""
    require_tool("virsh")

    def define(interface_xml: str) -> str:
        body = interface_xml.split("?>", 1)[1] if interface_xml.lstrip().startswith("<?xml") else interface_xml
        domain = ("<domain type='test'><name>vifcheck</name><memory>1024</memory>"
                  "<os><type>hvm</type></os><devices>" + body + "</devices></domain>")
        import tempfile
        with tempfile.NamedTemporaryFile("w", suffix=".xml") as f:
            f.write(domain)
            f.flush()
            proc = subprocess.run(["virsh", "-q", "-c", "test:///default",
                                   f"define {f.name}; dumpxml vifcheck"],
                                  capture_output=True, text=True, timeout=30, check=False)
        assert proc.returncode == 0, f"libvirt refused the XML: {proc.stderr.strip()}\n{domain}"
        return proc.stdout
    return define


@pytest.fixture
def test_driver_path(tmp_path):
    """A site directory holding the small test driver, registered through a
    real entry point (a dist-info directory), as a third-party driver would be."""
    site = tmp_path / "site"
    site.mkdir()
    shutil.copy(os.path.join(HERE, "drivers", "vif_test_driver.py"), site)
    dist = site / "vif_test_driver-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: vif-test-driver\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[vif_driver.drivers]\ntest = vif_test_driver:TestDriver\nbroken = vif_test_driver:NotADriver\n")
    return str(site)


@pytest.fixture
def test_env(test_driver_path, config_file):
    """Environment and config for hooks served by the test driver."""
    config = config_file("""
        [vif-driver]
        timeout = 5
        [plugin_types]
        TEST_SDN = test
        OPEN_VSWITCH =
        OVIRT_PROVIDER_OVN =
        LINUX_BRIDGE =
        [driver:test]
        bridge = br-test
    """)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [test_driver_path, env.get("PYTHONPATH")]))
    env["VIF_DRIVER_CONFIG"] = config
    return env


@pytest.fixture
def ovs():
    """A running throw-away Open vSwitch (userspace datapath, in a temp dir
    and a network namespace of its own) with bridge br-int."""
    require_root()
    require_tool("ovsdb-tool", "ovsdb-server", "ovs-vswitchd", "ovs-vsctl", "ovs-appctl", "ip")
    from vif_driver.tools.sandbox.ovs import OvsSandbox
    with OvsSandbox() as box:  # started on entry, stopped and removed on exit
        box.add_bridge("br-int")
        yield box


# --- the host as the run found it ---------------------------------------------
# Only this run's resources are looked at (support.RUN_TAG): other test runs
# on the same host keep theirs.
_RUN_TMP = []


def pytest_configure(config):
    _RUN_TMP.append(support.start_run())


def pytest_sessionfinish(session, exitstatus):
    if not _RUN_TMP:
        return
    problems = support.check_run_left_nothing(_RUN_TMP[0])
    if problems:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        text = (f"the test run (tag {support.RUN_TAG}) left these behind (now removed):\n  "
                + "\n  ".join(problems))
        if reporter:
            reporter.write_line(text, red=True)
        else:
            print(text)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED

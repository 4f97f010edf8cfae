"""Shared fixtures: installed hook entrypoints, the emulated VDSM runner,
host configs, libvirt's XML parser and the rule for missing real parts."""

import os
import shutil
import subprocess
import sys
import textwrap

import pytest

from vif_driver import install, runner

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "fixtures")
IN_CI = os.environ.get("CI", "").lower() == "true"

VNIC_ID = "6a9f5e2b-71a3-4c1e-9d1b-2f4e6a8c0b13"
VM_ID = "0b7c3a5e-8c2f-4f4b-9a6e-1d2c3b4a5f60"


def require(condition: bool, what: str) -> None:
    """A real part is missing: fail in CI (never skip silently), skip elsewhere."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"CI=true but {what} is missing; .ci/run must install it")
    pytest.skip(f"{what} is missing")


def require_tool(*names: str) -> None:
    for name in names:
        require(shutil.which(name) is not None or os.path.exists(f"/usr/sbin/{name}"), f"the '{name}' command")


def require_root() -> None:
    require(os.geteuid() == 0, "root (network namespaces need CAP_NET_ADMIN)")


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


def external_props(plugin_type="OPEN_VSWITCH", vnic_id=VNIC_ID, **extra):
    props = {"provider_type": "EXTERNAL_NETWORK", "plugin_type": plugin_type, "vnic_id": vnic_id}
    props.update(extra)
    return props


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

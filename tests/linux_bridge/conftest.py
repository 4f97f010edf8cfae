"""Fixtures of the Linux bridge driver's tests: a namespaced "host" whose
veths stand in for the physical NICs and a host config pointing the driver
at it."""

import pytest

from lb_helpers import ONLY_LB, require_root, require_tool, uplink_kind


@pytest.fixture
def host():
    """A namespace standing in for the hypervisor: eth1 and eth2 are veths
    whose peers (eth1p, eth2p) are the "switch" side."""
    require_root()
    require_tool("ip")
    from vif_driver.tools.sandbox.netns import Namespace
    ns = Namespace()
    ns.create()
    try:
        ns.veth("eth1", "eth1p")
        ns.veth("eth2", "eth2p")
        yield ns
    finally:
        ns.delete()


@pytest.fixture
def lb_config(config_file, host, tmp_path):
    """Write the host config for the driver in ``host``; extra lines go into
    [driver:linux_bridge], ``mappings`` is its physical_interface_mappings."""
    kind = uplink_kind()

    def write(extra: str = "", timeout: float = 5, name: str = "vif-driver.conf",
              mappings: str = "physnet1:eth1, physnet2:eth2") -> str:
        lines = ["[vif-driver]", f"timeout = {timeout}", ONLY_LB, "[driver:linux_bridge]",
                 f"netns = {host.name}", f"physical_interface_mappings = {mappings}",
                 f"lock_dir = {tmp_path / 'locks'}", f"uplink_kind = {kind}", "plug_timeout = 1"]
        return config_file("\n".join(lines) + "\n" + extra, name)
    return write



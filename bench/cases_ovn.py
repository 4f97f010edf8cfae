"""OVN cases on a simulated OVN cluster (vif_driver.tools.sandbox.ovn; needs
root and OVN installed).

- plug-to-ovn-installed latency: from the moment libvirt's part adds the
  port (its Logical_Switch_Port already in the northbound DB, bound to the
  host) until ovn-controller sets external_ids:ovn-installed=true, read on
  an IDL replica the way the post-plug check reads it; printed as median,
  p90 and max over PORTS ports (no limit: it is ovn-controller's time);
- the post-plug hook process on an OVN chassis for an installed port
  (after_device_create, empty XML): against a process that only imports
  the OVSDB library, no limit.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import time
import uuid

from vif_driver.drivers.ovs.ovsdb import Client
from vif_driver.tools import install
from vif_driver.tools.sandbox.ovn import OvnCluster

from hookbench import Case, writer

PORTS = 30


def _installed(dev: str):
    def check(tables):
        rows = [r for r in tables["Interface"].rows.values() if r.name == dev]
        return None if rows and rows[0].external_ids.get("ovn-installed") == "true" else "not yet"
    return check


def plug_to_installed(ovn, host, count: int = PORTS) -> list[float]:
    """Seconds from add-port to ovn-installed for ``count`` new ports."""
    ovn.nbctl("--may-exist", "ls-add", "benchnet")
    client = Client(host.box.remote, 10)
    client.sync()
    seconds = []
    try:
        for i in range(count):
            port_id, mac = str(uuid.uuid4()), f"02:b0:00:00:00:{i:02x}"
            ovn.nbctl("lsp-add", "benchnet", port_id, "--", "lsp-set-addresses", port_id, f"{mac} 10.99.0.{i + 2}",
                      "--", "lsp-set-options", port_id, f"requested-chassis={host.system_id}")
            dev = "tap" + port_id[:11]
            start = time.perf_counter()
            host.box.plug_tap(dev, iface_id=port_id, mac=mac, vm_id=str(uuid.uuid4()), wait=False)
            if client.wait(_installed(dev), 10) is not None:
                raise RuntimeError(f"{dev}: no ovn-installed within 10 s")
            seconds.append(time.perf_counter() - start)
    finally:
        client.close()
    return seconds


@contextlib.contextmanager
def cases(workdir, python):
    hook = install.install_hooks(workdir, python, hook_points=["after_device_create"])[0]
    with OvnCluster(directory=os.path.join(workdir, "ovn")) as ovn:
        host, _ = ovn.add_hosts(2)
        ovn.wait_chassis()
        seconds = sorted(plug_to_installed(ovn, host))
        p90 = seconds[int(len(seconds) * 0.9) - 1]
        print(f"{'plug to ovn-installed (' + str(len(seconds)) + ' ports)':58} median "
              f"{statistics.median(seconds) * 1000:.0f} ms, p90 {p90 * 1000:.0f} ms, max {seconds[-1] * 1000:.0f} ms",
              flush=True)
        port_id = str(uuid.uuid4())
        ovn.nbctl("lsp-add", "benchnet", port_id, "--", "lsp-set-options", port_id,
                  f"requested-chassis={host.system_id}")
        host.box.plug_tap("tap" + port_id[:11], iface_id=port_id, mac="02:b0:00:00:01:01", vm_id=str(uuid.uuid4()))
        config = host.write_config(os.path.join(workdir, "vif-driver.conf"), timeout=10, plug_timeout=10)
        empty = os.path.join(workdir, "empty.xml")
        env = dict(os.environ, VIF_DRIVER_CONFIG=config, vmId=str(uuid.uuid4()), provider_type="EXTERNAL_NETWORK",
                   plugin_type="OVIRT_PROVIDER_OVN", vnic_id=port_id, _hook_domxml=empty)
        yield [Case("post-plug on an OVN chassis (after_device_create)", [hook], env=env, baseline="ovs",
                    limit=None, prepare=writer(empty, ""))]

"""Core cases: hook runs on vNICs that are not ours."""

import contextlib
import os

from vif_driver.tools import install

from hookbench import Case

FOREIGN_XML = """<?xml version='1.0' encoding='utf-8'?>
<interface type="bridge">
    <mac address="00:1a:4a:16:01:51"/>
    <model type="virtio"/>
    <source bridge="ovirtmgmt"/>
</interface>
"""


@contextlib.contextmanager
def cases(workdir, python):
    hook = install.install_hooks(workdir, python, hook_points=["before_device_create"])[0]
    xml = os.path.join(workdir, "device.xml")
    with open(xml, "w") as f:
        f.write(FOREIGN_XML)
    base = dict(os.environ, _hook_domxml=xml, vmId="0b7c3a5e-8c2f-4f4b-9a6e-1d2c3b4a5f60")
    config = os.path.join(workdir, "vif-driver.conf")
    with open(config, "w") as f:
        f.write("[plugin_types]\nOPEN_VSWITCH = ovs\n")

    def unchanged():
        with open(xml) as f:
            assert f.read() == FOREIGN_XML, "a foreign vNIC's XML was changed"

    yield [
        Case("foreign vNIC (oVirt network, no provider_type)", [hook], env=base,
             limit=1.15, check=unchanged),
        Case("foreign vNIC (EXTERNAL_NETWORK, other plugin_type)", [hook],
             env=dict(base, provider_type="EXTERNAL_NETWORK", plugin_type="OTHER_SDN",
                      vnic_id="6a9f5e2b-1111-2222-3333-444455556666", VIF_DRIVER_CONFIG=config),
             limit=1.15, check=unchanged),
    ]

"""The plug rewrite: the <interface> libvirt needs to put a vNIC on OVS.

A pure function, element in, element out; it never touches Open vSwitch
(libvirt adds the port and sets its external_ids itself) and imports only
lxml and domxml, which the framework has loaded already for the device XML.

Result, whatever the input (engine XML, VDSM's rebuilt XML at update-device,
or our own output):

    <interface type="bridge">
        ...every other child kept in place (mac, model, alias, address, link, ...)
        <source bridge="br-int"/>
        <virtualport type="openvswitch">
            <parameters interfaceid="VNIC_ID"/>
        </virtualport>
        <target dev="tapVNIC_ID[:11]"/>      (plug; update-device: see below)
        <mtu size="N"/>                       (only when an MTU is given)
    </interface>

Update-device (``set_target=False``) keeps whatever <target> the XML has
and adds none: libvirt refuses to change a running vNIC's tap name ("cannot
modify network device tap name"), and a VM started before this hook was
installed, or under another provider's hook, has a tap libvirt named itself
(vnetN).
"""

from lxml import etree

from vif_driver.core.domxml import only_child
from vif_driver.core.naming import tap_name


def plug(interface, vnic_id: str, bridge: str, mtu: "int | None" = None, set_target: bool = True):
    """Rewrite ``interface`` in place and return it; running it on its own
    output changes nothing. ``set_target=False`` leaves <target> alone."""
    interface.set("type", "bridge")
    only_child(interface, "source", {"bridge": bridge})
    virtualport = only_child(interface, "virtualport", {"type": "openvswitch"})
    etree.SubElement(virtualport, "parameters", interfaceid=vnic_id)
    if set_target:
        only_child(interface, "target", {"dev": tap_name(vnic_id)})
    if mtu is not None:
        only_child(interface, "mtu", {"size": str(mtu)})
    return interface

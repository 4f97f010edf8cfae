"""Where a vNIC goes on Open vSwitch, by the Neutron type of its network.

Without a controller nothing programs the integration bridge, and NORMAL
switching would make every external network of a host one broadcast
domain. So the driver itself keeps networks apart, with what plain Open
vSwitch and libvirt do:

- vlan: the bridge the host maps the network's physnet to
  (``bridge_mappings = physnet1:br-phys1``), port tag = segmentation id.
  libvirt sets the tag from ``<vlan><tag id='N'/></vlan>``; OVS pushes and
  pops the 802.1Q header itself, in the userspace datapath too.
- flat: the physnet's bridge, untagged.
- local: the integration bridge, port tag = the network's local tag, which
  the provider allocates once per network: two local networks never share
  a broadcast domain; a local network never leaves the host.
- vxlan/geneve/gre: need a controller (OVN): refused.
- any type whose port the provider marks ``controller=ovn`` in its
  binding:vif_details (vif-driver's OVN backend): the integration bridge,
  untagged, on an OVN chassis only: ovn-controller carries the network,
  a vlan or flat one through its localnet port and ovn-bridge-mappings.

A vNIC whose network type is unknown (no provider URL, no vNIC property)
keeps the old placement: the configured bridge, no tag.
"""

from vif_driver.api import HostError, InvalidInput, Option
from vif_driver.core import validate

TYPES = ("local", "flat", "vlan")
TUNNEL_TYPES = ("vxlan", "geneve", "gre")
_TAG = validate.vlan


def parse_bridge_mappings(value: str) -> "dict[str, str]":
    """'physnet1:br-phys1,physnet2:br-phys2' -> {'physnet1': 'br-phys1', ...}."""
    return validate.mappings(value, "bridge", "physnet1:br-phys1")


def _network_type(value: str) -> str:
    if value not in TYPES + TUNNEL_TYPES:
        raise ValueError(f"{value!r} is not a network type ({', '.join(TYPES + TUNNEL_TYPES)})")
    return value


def _controller(value: str) -> str:
    if value != "ovn":
        raise ValueError(f"{value!r} is not a controller this driver knows (ovn)")
    return value


OPTIONS = {
    "bridge_mappings": Option({}, parse_bridge_mappings, "physnet1:br-phys1[,physnet2:br-phys2]: the OVS bridge "
                              "(created by the administrator, with its uplink) of each physical network",
                              host_only=True),
    "network_type": Option(None, validate.optional(_network_type), "local, flat or vlan; unset: the provider's"),
    "physical_network": Option(None, validate.optional(validate.physnet), "physnet of a flat or vlan network"),
    "segmentation_id": Option(None, validate.optional(_TAG), "VLAN id of a vlan network"),
    "local_tag": Option(None, validate.optional(_TAG), "the provider's tag of a local network"),
}


class Placement:
    """Where the vNIC goes: bridge, port tag (None: untagged), MTU. A plain
    class: importing typing for a NamedTuple would cost every hook ms."""

    __slots__ = ("bridge", "tag", "mtu", "network_type", "physical_network", "controller")

    def __init__(self, bridge: str, tag: "int | None", mtu: "int | None", network_type: "str | None" = None,
                 physical_network: "str | None" = None, controller: "str | None" = None):
        self.bridge, self.tag, self.mtu = bridge, tag, mtu
        self.network_type, self.physical_network = network_type, physical_network
        self.controller = controller  # "ovn": OVN carries the network (the host must be a chassis)

    @property
    def needs_ovn(self) -> bool:
        return self.controller == "ovn" or self.network_type in TUNNEL_TYPES

    def __repr__(self) -> str:
        return f"Placement({self.bridge!r}, tag={self.tag!r}, mtu={self.mtu!r}, type={self.network_type!r})"


def place(properties) -> Placement:
    """The Placement of the vNIC: its network from the provider (when the
    host names one) or the vNIC's properties, which win."""
    settings = _provider_settings(properties)
    options = properties.options

    def choose(key):
        return options[key] if key in properties or key not in settings else settings[key]

    ntype, mtu = choose("network_type"), choose("mtu")
    if settings.get("controller") == "ovn":  # OVN wires every type from br-int, localnets included
        return Placement(choose("bridge"), None, mtu, ntype, controller="ovn")
    if ntype is None:
        return Placement(choose("bridge"), None, mtu)
    if ntype in TUNNEL_TYPES:  # an overlay: OVN's ovn-controller carries it from br-int (driver checks OVN)
        return Placement(choose("bridge"), None, mtu, ntype)
    if ntype == "local":
        tag = choose("local_tag")
        if tag is None:
            raise InvalidInput(f"local network of vNIC {properties.vnic_id} has no local_tag: the provider "
                               "allocates one; upgrade it or set the vNIC property local_tag")
        return Placement(choose("bridge"), tag, mtu, ntype)
    physnet = choose("physical_network")
    if physnet is None:
        raise InvalidInput(f"{ntype} network of vNIC {properties.vnic_id} has no physical_network; "
                           "fix the network on the provider")
    bridge = options["bridge_mappings"].get(physnet)
    if bridge is None:
        known = ", ".join(sorted(options["bridge_mappings"])) or "none"
        raise HostError(f"physical network {physnet} is not mapped on this host (mapped: {known}); add "
                        f"{physnet}:BRIDGE to bridge_mappings in [driver:ovs]")
    if ntype == "flat":
        return Placement(bridge, None, mtu, ntype, physnet)
    tag = choose("segmentation_id")
    if tag is None:
        raise InvalidInput(f"vlan network of vNIC {properties.vnic_id} has no segmentation_id; "
                           "fix the network on the provider")
    return Placement(bridge, tag, mtu, ntype, physnet)


def _provider_settings(properties) -> "dict[str, object]":
    """What the provider asks this host to do, from the port's
    binding:vif_details (flat strings). The type, physnet and VLAN count only
    when vif_details carries ``network_type``: a provider with a controller
    (ovirt-provider-ovn: ovn-controller programs br-int, localnets included)
    leaves it out, and its vNICs keep the plain placement on ``bridge``."""
    from vif_driver.provider_client import lookup
    answer = lookup.network_and_details(properties)
    if answer is None:
        return {}
    network, details = answer
    raw = {
        "bridge": (details.get("bridge_name"), validate.ifname),
        "mtu": (network.get("mtu"), validate.mtu),
        "network_type": (details.get("network_type"), _network_type),
        "physical_network": (details.get("physical_network"), validate.physnet),
        "segmentation_id": (details.get("segmentation_id"), str),
        "local_tag": (details.get("local_tag"), _TAG),
        "controller": (details.get("controller"), _controller),
    }
    settings = lookup.validated(properties, raw)
    if "segmentation_id" in settings:  # a vlan id; other types' ids are not ours to apply
        if settings.get("network_type") == "vlan":
            try:
                settings["segmentation_id"] = _TAG(str(settings["segmentation_id"]))
            except ValueError as e:
                raise lookup.bad_answer(properties, f"segmentation_id {e}") from None
        else:
            del settings["segmentation_id"]
    return settings


# -- the XML: libvirt's own <vlan> element ------------------------------------------
def apply_tag(interface, tag: "int | None"):
    """``<vlan><tag id='N'/></vlan>`` for a tagged placement, none
    otherwise; in the place of an existing one, so reruns change nothing."""
    from lxml import etree

    from vif_driver.core.domxml import only_child
    if tag is None:
        for stale in interface.findall("vlan"):
            interface.remove(stale)
        return interface
    etree.SubElement(only_child(interface, "vlan", before="mtu"), "tag", id=str(tag))
    return interface


def xml_tag(domxml) -> "tuple[bool, int | None]":
    """(whether the XML says, the tag): an interface we rewrote tells its
    tag by its <vlan> element (none: untagged)."""
    vlan = domxml.find("vlan/tag") if domxml is not None else None
    if vlan is None:
        return False, None
    try:
        return True, _TAG(vlan.get("id", ""))
    except ValueError as e:
        raise InvalidInput(f"device XML <vlan><tag id>: {e}") from None


# -- post-plug and caps ---------------------------------------------------------------
def confirm_tag(db, dev: str, tag: int) -> None:
    """The vNIC's port carries the network's tag (libvirt set it), else
    NotReady: an untagged port would join the bridge's native network."""
    from vif_driver.api import NotReady
    found = db.port_tag(dev)
    if found != [tag]:
        raise NotReady(f"port {dev} has tag {found[0] if found else '(none)'}, expected {tag}: libvirt did "
                       "not apply the <vlan> of the device XML (is the NIC's XML the one plug wrote?)")


def caps(section: dict, exists: "dict[str, bool]", mappings: "dict[str, str]") -> None:
    """The host's physnet mappings in caps, each with whether its bridge
    exists (the administrator creates it and its uplink; ``exists``: one
    OVSDB read of those bridges)."""
    if not mappings:
        return
    section["bridge_mappings"] = {physnet: {"bridge": bridge, "exists": exists[bridge]}
                                  for physnet, bridge in sorted(mappings.items())}

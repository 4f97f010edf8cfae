"""Where a vNIC goes: the target network resolved from driver options.

Pure functions, standard library only. Names derived here are deterministic
(every host and every hook run computes the same bridge for a network) and
always valid Linux interface names (<= 15 characters).
"""

from __future__ import annotations

from vif_driver.core import validate

MARK = "vif-driver:managed"
"""First word of the ifalias of every device this driver created. Only
devices carrying it are ever deleted; an administrator's are left alone."""


UPLINK_KINDS = ("vlan", "vxlan")


class Target:
    """The bridge a vNIC is plugged into and, for a provider network, what
    the driver builds under it."""

    __slots__ = ("bridge", "physnet", "vlan", "interface", "uplink", "mtu", "kind")

    def __init__(self, bridge: str, physnet: str | None = None, vlan: int | None = None,
                 interface: str | None = None, mtu: int | None = None, kind: str = "vlan"):
        self.bridge = bridge
        self.physnet, self.vlan, self.interface = physnet, vlan, interface
        self.uplink = uplink_name(interface, vlan) if interface and vlan is not None else interface
        self.mtu = mtu
        self.kind = kind

    @property
    def managed(self) -> bool:
        """True when the driver builds (and may remove) the bridge itself."""
        return self.physnet is not None

    def alias(self, role: str) -> str:
        """The ownership mark for a device the driver creates."""
        return f"{MARK} {role} {self.physnet} {self.vlan} {self.uplink}"

    def describe(self) -> str:
        if not self.managed:
            return f"bridge {self.bridge}"
        return f"bridge {self.bridge} (physical network {self.physnet}, VLAN {self.vlan} on {self.interface})"


def parse_mappings(value: str) -> dict[str, str]:
    """'physnet1:eth1,physnet2:eth2' -> {'physnet1': 'eth1', ...}."""
    return validate.mappings(value, "interface", "physnet1:eth1")


def uplink_kind(value: str) -> str:
    if value not in UPLINK_KINDS:
        raise ValueError(f"{value!r} is not one of {', '.join(UPLINK_KINDS)}")
    return value


def _hash(text: str) -> str:
    """32-bit FNV-1a as 8 hex digits: stable across hosts and Python
    versions (unlike hash()), and no zlib import on the plug path."""
    value = 0x811C9DC5
    for byte in text.encode("utf-8"):
        value = ((value ^ byte) * 0x01000193) & 0xFFFFFFFF
    return f"{value:08x}"


def bridge_name(physnet: str, vlan: int) -> str:
    """'vb<vlan>-<FNV-1a of physnet>': at most 2+4+1+8 = 15 characters."""
    return f"vb{vlan}-{_hash(physnet)}"


def uplink_name(interface: str, vlan: int) -> str:
    """'<interface>.<vlan>' as administrators name VLANs, or a hashed
    'vl<vlan>-<hash>' when that would exceed the kernel's 15 characters."""
    name = f"{interface}.{vlan}"
    return name if len(name) <= validate.IFNAME_LENGTH else f"vl{vlan}-{_hash(interface)}"


def parse_alias(alias: str | None) -> tuple[str, str, str, str] | None:
    """(role, physnet, vlan, uplink) of a device marked by this driver, else None."""
    if not alias:
        return None
    words = alias.split()
    if len(words) != 5 or words[0] != MARK:
        return None
    return words[1], words[2], words[3], words[4]


def resolve(options) -> Target:
    """The Target of a vNIC from its parsed options; raises ValueError with
    the fix."""
    bridge = options.get("bridge") or None
    physnet = options.get("physical_network") or None
    seg, vlan = options.get("segmentation_id"), options.get("vlan")
    if seg is not None and vlan is not None and seg != vlan:
        raise ValueError(f"segmentation_id {seg} and vlan {vlan} disagree; set only one of them")
    seg = seg if seg is not None else vlan
    mtu = options.get("mtu")
    if physnet is None:
        if bridge is None:
            raise ValueError("no network given: set the option bridge, or physical_network "
                             "and segmentation_id (vNIC custom properties or [driver:linux_bridge])")
        if seg is not None:
            raise ValueError("segmentation_id needs physical_network; set it, or drop segmentation_id "
                             "to use bridge alone")
        return Target(bridge, mtu=mtu)
    if bridge is not None:
        raise ValueError(f"both bridge {bridge!r} and physical_network {physnet!r} are set; "
                         "set only one of them")
    if seg is None:
        raise ValueError(f"physical network {physnet!r} needs a VLAN: set segmentation_id (1-4094)")
    mappings = options.get("physical_interface_mappings") or {}
    interface = mappings.get(physnet)
    if interface is None:
        known = ", ".join(sorted(mappings)) or "none"
        raise ValueError(f"physical network {physnet!r} is not mapped on this host (mapped: {known}); "
                         f"add '{physnet}:INTERFACE' to physical_interface_mappings in [driver:linux_bridge]")
    return Target(bridge_name(physnet, seg), physnet, seg, interface, mtu,
                  options.get("uplink_kind") or "vlan")

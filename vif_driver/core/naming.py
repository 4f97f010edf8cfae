"""The tap name of an external vNIC, shared by the drivers. Standard library only."""

TAP_PREFIX = "tap"


def tap_name(vnic_id: str) -> str:
    """The device name libvirt gives the tap: 'tap' + 11 characters of the
    port id, what Neutron's agents and ovirt-provider-ovn expect."""
    return TAP_PREFIX + vnic_id[:11]

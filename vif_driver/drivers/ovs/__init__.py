"""Open vSwitch reference driver (entry point ``vif_driver.drivers.ovs:OvsDriver``).

Kept light: loading the driver imports only the driver class; lxml and the
OVSDB access come in with the hook that needs them.
"""

from vif_driver.drivers.ovs.driver import OvsDriver

__all__ = ["OvsDriver"]

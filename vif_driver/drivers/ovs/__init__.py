"""Open vSwitch reference driver (placeholder until the OVS driver lands)."""

from vif_driver.api import VifDriver


class OvsDriver(VifDriver):
    pass

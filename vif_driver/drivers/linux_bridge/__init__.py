"""Linux bridge driver (placeholder until the Linux bridge driver lands)."""

from vif_driver.api import VifDriver


class LinuxBridgeDriver(VifDriver):
    pass

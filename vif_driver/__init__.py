"""vif-driver: connect oVirt VM NICs to external network providers' networks.

This module is imported by every hook process before we know whether the vNIC
is ours, so it must stay free of imports.
"""

__version__ = "0.1.0"

"""Driver options naming the provider to look vNIC ports up on (see lookup.py).

A module of its own so that declaring them costs a driver's hook nothing.
"""

from vif_driver import validate
from vif_driver.api import Option

PROVIDER_OPTIONS = {
    "provider_url": Option(None, validate.optional(validate.url),
                           "Neutron API of the provider, e.g. http://provider:9696; when set, "
                           "plug looks the vNIC's port up there (bridge, MTU, VLAN)"),
    "provider_auth_url": Option(None, validate.optional(validate.url), "token endpoint (default: provider_url)"),
    "provider_username": Option(None, validate.optional(validate.name), "user for the provider's token endpoint"),
    "provider_password": Option(None, str, "password for the provider's token endpoint"),
    "provider_cafile": Option(None, validate.optional(validate.absolute_path), "CA bundle for an https provider"),
}

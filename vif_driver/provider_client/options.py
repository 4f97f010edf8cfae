"""Driver options naming the provider to look vNIC ports up on (see lookup.py).

Host-only: a vNIC must not send the host's provider credentials elsewhere.
A module of its own so that declaring them costs a driver's hook nothing.
"""

from vif_driver.api import Option
from vif_driver.core import validate

_URL = validate.optional(validate.url)

PROVIDER_OPTIONS = {
    "provider_url": Option(None, _URL, "Neutron API of the provider, e.g. http://provider:9696; when set, "
                                       "plug looks the vNIC's port up there (bridge, MTU, VLAN)", host_only=True),
    "provider_auth_url": Option(None, _URL, "token endpoint (default: provider_url)", host_only=True),
    "provider_username": Option(None, validate.optional(validate.name), "user for the token endpoint",
                                host_only=True),
    "provider_password": Option(None, str, "password for the token endpoint", host_only=True),
    "provider_cafile": Option(None, validate.optional(validate.absolute_path), "CA bundle for an https provider",
                              host_only=True),
}

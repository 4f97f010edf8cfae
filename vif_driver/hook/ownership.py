"""What a hook process knows before it asks anyone: where the host config and
the agent's socket are, and whether a plugin_type can be ours at all.

os only. may_map is the cheap, conservative pre-check every EXTERNAL_NETWORK
vNIC passes first: another provider's vNIC costs a hook one read of the
config file's bytes, never a parse (vif_driver.core.config parses it).
"""

from __future__ import annotations

import os

DEFAULT_PATH = "/etc/vif-driver/vif-driver.conf"
CONFIG_ENV = "VIF_DRIVER_CONFIG"
DEFAULT_AGENT_SOCKET = "/run/vif-driver/agent.sock"
AGENT_SOCKET_ENV = "VIF_DRIVER_AGENT_SOCKET"
AGENT_START_HINT = "systemctl enable --now vif-driverd.socket"

# Built-in mapping; the config's [plugin_types] section is merged over it.
DEFAULT_PLUGIN_TYPES = {
    "OPEN_VSWITCH": "ovs",
    "OVIRT_PROVIDER_OVN": "ovs",
    "LINUX_BRIDGE": "linux_bridge",
}


def config_path(environ=None) -> str:
    environ = os.environ if environ is None else environ
    return environ.get(CONFIG_ENV) or DEFAULT_PATH


def agent_socket_path(environ) -> str:
    """Where hooks look for the agent: $VIF_DRIVER_AGENT_SOCKET, else the
    default path of the shipped vif-driverd.socket. Not agent_socket of the
    config: a hook with an agent does not read the config (the agent logs a
    warning at start when the config names another path)."""
    return environ.get(AGENT_SOCKET_ENV) or DEFAULT_AGENT_SOCKET


def may_map(plugin_type, environ=None) -> bool:
    """Whether a plugin_type can be ours: a built-in one, or one that appears
    in the config file's text. A True answer still goes through the parse
    (the agent's, or an in-process hook's)."""
    if not plugin_type:
        return False
    if plugin_type in DEFAULT_PLUGIN_TYPES:
        return True
    try:
        with open(config_path(environ), "rb") as f:
            return plugin_type.encode("utf-8", "replace") in f.read()
    except FileNotFoundError:
        return False  # built-in defaults only
    except OSError:
        # Unreadable (permissions): a plugin_type outside the defaults cannot
        # be told ours, and another provider's VM must not fail for our config.
        return False

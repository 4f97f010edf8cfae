"""Asking the provider about a vNIC's port from a driver's hook.

A driver that adds options.PROVIDER_OPTIONS to its own options can call
``network_settings(properties)`` in its before-plug: when the host config
(or the vNIC's properties) name a provider URL, the port and its network
are fetched (bounded by the hook timeout) and what the host needs is
returned; without a URL nothing is fetched. A failed lookup raises
HostError, which a before-hook turns into exit 2 with the client's one line.
"""

from __future__ import annotations

from vif_driver.api import HookContext, HostError
from vif_driver.core import validate


def port_details(properties: HookContext) -> dict | None:
    """The vNIC's port with its network (key "network"), or None when no
    provider URL is configured."""
    def option(name: str) -> str | None:
        value = properties.options.get(name)
        return value if isinstance(value, str) and value else None

    url, vnic_id = option("provider_url"), properties.vnic_id
    if not url or not vnic_id:
        return None
    from vif_driver.provider_client.http import ProviderError, get_port
    properties.record(f"provider: GET {url.rstrip('/')}/v2.0/ports/{vnic_id} and its network")
    try:
        return get_port(url, vnic_id, username=option("provider_username"),
                        password=option("provider_password"), timeout=properties.timeout,
                        auth_url=option("provider_auth_url"), cafile=option("provider_cafile"))
    except ProviderError as e:
        raise HostError(str(e)) from None


def network_and_details(properties: HookContext) -> tuple[dict, dict] | None:
    """(the port's network, its binding:vif_details), each {} when absent;
    None when no provider URL is configured."""
    port = port_details(properties)
    if port is None:
        return None
    return port.get("network") or {}, port.get("binding:vif_details") or {}


def network_settings(properties: HookContext) -> dict[str, object]:
    """What the provider says about the vNIC's network, validated: any of
    ``bridge``, ``mtu``, ``physical_network``, ``segmentation_id``,
    ``network_type``. Empty without a provider URL."""
    answer = network_and_details(properties)
    if answer is None:
        return {}
    network, details = answer
    raw = {
        "bridge": (details.get("bridge_name"), validate.ifname),
        "mtu": (network.get("mtu"), validate.mtu),
        "physical_network": (network.get("provider:physical_network"), validate.physnet),
        "segmentation_id": (network.get("provider:segmentation_id"), validate.vlan),
        "network_type": (network.get("provider:network_type"), validate.name),
    }
    return validated(properties, raw)


def validated(properties: HookContext, raw: dict[str, tuple]) -> dict[str, object]:
    """{key: parse(value)} for each set (value, parse) of ``raw``: what a
    provider answered, checked as the drivers check their own options."""
    settings: dict[str, object] = {}
    for key, (value, parse) in raw.items():
        if value is None or value == "":
            continue
        try:
            settings[key] = parse(str(value))
        except ValueError as e:
            raise bad_answer(properties, f"{key} {e}") from None
    return settings


def bad_answer(properties: HookContext, what: str) -> HostError:
    return HostError(f"provider {properties.options['provider_url']}: port {properties.vnic_id}: "
                     f"{what}; fix the network on the provider")


def choose(properties: HookContext, settings: dict[str, object], key: str):
    """The value for ``key``: a vNIC property of that name wins, then what
    the provider says, then the host config or the option's default."""
    if key in properties or key not in settings:
        return properties.options[key]
    return settings[key]

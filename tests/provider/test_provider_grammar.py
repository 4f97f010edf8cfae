"""The provider stores no value a host's driver would refuse later: names
reaching OVS or netlink (bridge, physnet) and MACs are checked by the same
grammar as the drivers' (vif_driver.core.validate), as whole strings. Each
refusal is a 400 in Neutron's error shape, one line naming the field and
the fix."""

from __future__ import annotations

import pytest
from neutronclient.common import exceptions as nexc

from vif_driver.core import validate

BRIDGES = ["br-int", "br_1.2", "b", "x" * 15, "--may-exist", "-br", ".br", "br int", "br-int\n",
           "x" * 16, "br/int", "bré", "", "br-int;reboot"]
PHYSNETS = ["physnet1", "p", "phys-net_1.a", "x" * 64, "x" * 65, "phys net", "-physnet", "physnet1\n",
            "phys:net", "physnet\u00e9"]
MACS = ["fa:16:3e:00:00:01", "FA:16:3E:00:00:02", "fa-16-3e-00-00-03", "fa:16:3e:00:00:04\n",
        "fa:16:3e:00:00:5", "fa:16-3e:00:00:06", " fa:16:3e:00:00:07", "fa:16:3e:00:00:08:09"]


def _accepted(parse, value) -> bool:
    try:
        parse(value)
        return True
    except ValueError:
        return False


def _vlan(physnet: str, segment: int) -> dict:
    return {"provider:network_type": "vlan", "provider:physical_network": physnet,
            "provider:segmentation_id": segment}


def _refusal(provider, method: str, path: str, body: dict | None, etype: str = "InvalidInput") -> str:
    """The message of a 400 in Neutron's shape (what the engine shows)."""
    status, _, answer = provider.request(method, path, body)
    assert status == 400, answer
    assert set(answer) == {"NeutronError"} and answer["NeutronError"]["type"] == etype, answer
    message = answer["NeutronError"]["message"]
    assert "\n" not in message and len(message) <= 240, message
    return message


NETWORK_NAMES = [("vif_driver:bridge_name", validate.ifname, b) for b in BRIDGES] + [
    ("provider:physical_network", validate.physnet, p) for p in PHYSNETS]


@pytest.mark.parametrize("field, parse, value", NETWORK_NAMES, ids=[repr(n[2]) for n in NETWORK_NAMES])
def test_network_names_accepted_exactly_when_a_driver_accepts_them(neutron, field, parse, value):
    attrs = {field: value} if field == "vif_driver:bridge_name" else _vlan(value, 3000 + PHYSNETS.index(value))
    if _accepted(parse, value):
        net = neutron.create_network({"network": attrs})["network"]
        assert net[field] == value
        port = neutron.create_port({"port": {"network_id": net["id"]}})["port"]
        details = port["binding:vif_details"]  # what a host's driver reads
        got = details["bridge_name"] if field == "vif_driver:bridge_name" else details["physical_network"]
        assert parse(got) == value
        neutron.delete_port(port["id"])
        neutron.delete_network(net["id"])
    else:
        with pytest.raises(nexc.BadRequest) as info:
            neutron.create_network({"network": attrs})
        assert field in str(info.value)


@pytest.mark.parametrize("mac", MACS)
def test_mac_accepted_exactly_when_the_grammar_accepts_it(neutron, network, mac):
    net, _ = network
    body = {"port": {"network_id": net["id"], "mac_address": mac}}
    if _accepted(validate.mac, mac):
        port = neutron.create_port(body)["port"]
        assert port["mac_address"] == validate.mac(mac) == mac.lower().replace("-", ":")
        neutron.delete_port(port["id"])
    else:
        before = neutron.list_ports(network_id=net["id"])["ports"]
        with pytest.raises(nexc.BadRequest) as info:
            neutron.create_port(body)
        assert "mac_address" in str(info.value)
        assert neutron.list_ports(network_id=net["id"])["ports"] == before  # nothing stored


def test_mac_with_a_newline_is_refused_with_the_field_and_the_fix(provider, network):
    net, _ = network
    message = _refusal(provider, "POST", "/v2.0/ports",
                       {"port": {"network_id": net["id"], "mac_address": "fa:16:3e:12:34:56\n"}})
    assert message == ("Invalid input for operation: mac_address: 'fa:16:3e:12:34:56\\n' is not a MAC address "
                       "(six pairs of hex digits joined by ':'); send one like fa:16:3e:12:34:56, or none: the "
                       "provider picks one.")
    status, _, answer = provider.request("POST", "/v2.0/ports", {"port": {"network_id": net["id"]}})
    assert status == 201, answer
    port = answer["port"]
    _refusal(provider, "PUT", f"/v2.0/ports/{port['id']}", {"port": {"mac_address": port["mac_address"] + "\n"}})
    status, _, shown = provider.request("GET", f"/v2.0/ports/{port['id']}")
    assert shown["port"]["mac_address"] == port["mac_address"]
    assert provider.request("DELETE", f"/v2.0/ports/{port['id']}")[0] == 204


def test_option_like_and_over_long_bridge_names_are_refused_on_create_and_update(provider):
    message = _refusal(provider, "POST", "/v2.0/networks", {"network": {"vif_driver:bridge_name": "--may-exist"}})
    assert message == ("Invalid input for operation: vif_driver:bridge_name: '--may-exist' is not an interface "
                       "name (letters, digits, '-', '_' or '.', starting with a letter or digit); use the name "
                       "of the bridge on the hosts, e.g. br-int.")
    status, _, answer = provider.request("POST", "/v2.0/networks", {"network": {"vif_driver:bridge_name": "br-ok"}})
    assert status == 201, answer
    net_id = answer["network"]["id"]
    message = _refusal(provider, "PUT", f"/v2.0/networks/{net_id}",
                       {"network": {"vif_driver:bridge_name": "br-integration01"}})
    assert message == ("Invalid input for operation: vif_driver:bridge_name: 'br-integration01' is longer than "
                       "the kernel's 15-character limit for interface names; use the name of the bridge on the "
                       "hosts, e.g. br-int.")
    assert provider.request("GET", f"/v2.0/networks/{net_id}")[2]["network"]["vif_driver:bridge_name"] == "br-ok"
    assert provider.request("DELETE", f"/v2.0/networks/{net_id}")[0] == 204


def test_bad_physnet_is_refused_with_the_field_and_the_fix(provider):
    message = _refusal(provider, "POST", "/v2.0/networks", {"network": _vlan("physnet1\n", 3100)})
    assert message == ("Invalid input for operation: provider:physical_network: 'physnet1\\n' is not a name "
                       "(1-64 letters, digits, '-', '_' or '.', starting with a letter or digit); use the name "
                       "the hosts map it by, e.g. physnet1.")
    _refusal(provider, "POST", "/v2.0/networks", {"network": _vlan(42, 3101)})


def test_serve_refuses_a_default_bridge_a_driver_would_refuse(start_provider):
    with pytest.raises(RuntimeError) as info:
        start_provider("--bridge", "--may-exist=1")
    assert "Invalid value for '--bridge'" in str(info.value) and "is not an interface name" in str(info.value)


NUL, SURROGATE = "a\u0000b", "\ud800"  # json.loads accepts both; neither can be stored
NUL_FIX = "contains a NUL character (U+0000); remove it."
SURROGATE_FIX = "contains a lone UTF-16 surrogate; send valid Unicode text."
TEXT_CASES = [  # (resource, field, value, the bad string)
    ("network", "name", NUL, NUL), ("network", "description", SURROGATE, SURROGATE),
    ("network", "tenant_id", NUL, NUL), ("subnet", "name", SURROGATE, SURROGATE),
    ("port", "name", SURROGATE, SURROGATE), ("port", "device_id", NUL, NUL),
    ("port", "device_owner", SURROGATE, SURROGATE), ("port", "binding:host_id", NUL, NUL),
    ("port", "security_groups", ["default", NUL], NUL),
    ("port", "binding:profile", {"pci_slot": {"deep": [NUL]}}, NUL),
    ("port", "binding:profile", {SURROGATE: "key"}, SURROGATE),
    ("port", "fixed_ips", [{"ip_address": NUL}], NUL)]


@pytest.mark.parametrize("resource, field, value, bad", TEXT_CASES,
                         ids=[f"{c[0]}-{c[1]}-{'nul' if c[3] == NUL else 'surrogate'}" for c in TEXT_CASES])
def test_unstorable_text_is_refused_naming_the_field(provider, network, resource, field, value, bad):
    """U+0000 (refused by ovsdb-server: the OVN worker stalled) and lone surrogates (sqlite3 cannot
    encode them: a 500), anywhere in a body, are a 400 on create and update; nothing is stored."""
    net, sub = network
    required = {"network": {}, "subnet": {"network_id": net["id"], "cidr": "10.8.0.0/24"},
                "port": {"network_id": net["id"]}}[resource]
    fix = NUL_FIX if bad == NUL else SURROGATE_FIX
    before = provider.request("GET", f"/v2.0/{resource}s")[2][f"{resource}s"]
    message = _refusal(provider, "POST", f"/v2.0/{resource}s", {resource: {**required, field: value}})
    assert message == f"Invalid input for operation: {field} {fix}"
    assert provider.request("GET", f"/v2.0/{resource}s")[2][f"{resource}s"] == before
    if field == "tenant_id":  # not updatable: the update case is another error
        return
    status, _, made = provider.request("POST", f"/v2.0/{resource}s", {resource: required})
    assert status == 201, made  # the backend is not stalled by the refused body
    item = made[resource]
    message = _refusal(provider, "PUT", f"/v2.0/{resource}s/{item['id']}", {resource: {field: value}})
    assert message == f"Invalid input for operation: {field} {fix}"
    assert provider.request("GET", f"/v2.0/{resource}s/{item['id']}")[2][resource] == item
    if resource != "network":
        assert provider.request("DELETE", f"/v2.0/{resource}s/{item['id']}")[0] == 204


CHOICES = [("network", "provider:network_type", "local"), ("subnet", "ip_version", "4"),
           ("subnet", "ipv6_ra_mode", "slaac"), ("subnet", "ipv6_address_mode", "slaac"),
           ("port", "binding:vnic_type", "normal")]


@pytest.mark.parametrize("resource, field, allowed", CHOICES, ids=[c[1] for c in CHOICES])
@pytest.mark.parametrize("value", [[], {}, ["vlan"]], ids=["list", "dict", "one-item-list"])
def test_a_list_or_object_for_a_choice_is_a_400_with_the_allowed_values(provider, network, resource, field,
                                                                         allowed, value):
    """Lists and objects are not hashable: the membership test raised TypeError (a 500)."""
    net, _ = network
    required = {"network": {}, "subnet": {"network_id": net["id"], "cidr": "fd00:8::/64"},
                "port": {"network_id": net["id"]}}[resource]
    message = _refusal(provider, "POST", f"/v2.0/{resource}s", {resource: {**required, field: value}})
    assert f" is not valid for {field}; allowed: [" in message and allowed in message, message


@pytest.mark.parametrize("query, field", [
    ("mtu=99999999999999999999999", "mtu"), ("mtu=9223372036854775808", "mtu"),
    ("provider:segmentation_id=-9223372036854775809", "provider:segmentation_id")])
def test_integer_filters_beyond_int64_are_a_400_naming_the_filter(provider, query, field):
    """sqlite3 raised OverflowError (a 500) on an integer beyond SQLite's 64 bits."""
    message = _refusal(provider, "GET", f"/v2.0/networks?{query}", None)
    assert message == (f"Invalid input for operation: {field} is out of range; use an integer from "
                       "-9223372036854775808 to 9223372036854775807.")
    status, _, answer = provider.request("GET", "/v2.0/networks?mtu=9223372036854775807")
    assert status == 200 and answer["networks"] == []


@pytest.mark.parametrize("coll, query, field", [
    ("networks", "name=a%00b", "name"), ("ports", "device_id=x&device_id=%00", "device_id"),
    ("ports", "fixed_ips=subnet_id%3D%00", "fixed_ips"), ("subnets", "project_id=%00", "project_id")])
def test_filter_values_with_nul_are_a_400_naming_the_filter(provider, coll, query, field):
    message = _refusal(provider, "GET", f"/v2.0/{coll}?{query}", None)
    assert message == f"Invalid input for operation: {field} {NUL_FIX}"


@pytest.mark.parametrize("coll", ["networks", "subnets", "ports"])
@pytest.mark.parametrize("limit", ["99999999999999999999", "9223372036854775807", "-1", "abc"])
def test_limits_beyond_int64_are_a_400_like_other_bad_limits(provider, coll, limit):
    """A limit past SQLite's 64 bits was a 409 "datatype mismatch"."""
    message = _refusal(provider, "GET", f"/v2.0/{coll}?limit={limit}", None, etype="HTTPBadRequest")
    assert message == f"Bad limit '{limit}': use an integer from 0 (no limit) to 9223372036854775806"
    status, _, answer = provider.request("GET", f"/v2.0/{coll}?limit=9223372036854775806")
    assert status == 200 and isinstance(answer[coll], list)

"""The oVirt engine's real call sequence, with its exact request bodies.

The engine (BaseNetworkProviderProxy over the woorea openstack-java-sdk)
sends Jackson's pretty-printed JSON (``"key" : value``), looks ports up by
listing all of them, and never deletes a port when a VM stops: the second
start of any VM re-allocates the existing port with a PUT whose
PortForUpdate body carries ``"security_groups" : null`` (see
/work/shared/engine-calls.md).
"""

from __future__ import annotations

import http.client
import json
import uuid

ENGINE_HEADERS = {"Accept": "application/json"}


def call(provider, method: str, path: str, body: str | None = None):
    """One engine request: only Accept (+ Content-Type on POST/PUT)."""
    headers = dict(ENGINE_HEADERS)
    if body is not None:
        headers["Content-Type"] = "application/json"
    conn = http.client.HTTPConnection(provider.host, provider.port,
                                      timeout=10)
    try:
        conn.request(method, "/v2.0" + path, body=body and body.encode(),
                     headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, json.loads(data) if data else None
    finally:
        conn.close()


def locate_port(provider, vnic_id: str) -> dict | None:
    """The engine's locatePort: GET /ports (all), match in the engine."""
    status, body = call(provider, "GET", "/ports")
    assert status == 200
    found = [p for p in body["ports"] if p["device_owner"] == "oVirt"
             and p["device_id"] == vnic_id]
    assert len(found) <= 1
    return found[0] if found else None


def allocate(provider, net: dict, vnic_id: str, mac: str, host: str) -> str:
    """RunVmCommandBase -> ExternalNetworkManager -> allocate(): the
    bodies exactly as the engine's Jackson mapper writes them."""
    port = locate_port(provider, vnic_id)
    if port is None:
        status, body = call(provider, "GET", f"/networks/{net['id']}")
        assert status == 200 and set(body) == {"network"}
        tenant = body["network"]["tenant_id"]
        status, body = call(provider, "POST", "/ports", f"""{{
  "port" : {{
    "name" : "nic1",
    "admin_state_up" : true,
    "tenant_id" : "{tenant}",
    "mac_address" : "{mac}",
    "network_id" : "{net['id']}",
    "device_owner" : "oVirt",
    "device_id" : "{vnic_id}",
    "binding:host_id" : "{host}"
  }}
}}""")
        assert status == 201, body
        assert set(body) == {"port"}
        return body["port"]["id"]
    # Existing port: desired security groups (null, no profile property)
    # differ from the stored [] on every RunVm, so a PortForUpdate is sent.
    if port["binding:host_id"] != host:
        text = f"""{{
  "port" : {{
    "mac_address" : "{mac}",
    "binding:host_id" : "{host}",
    "security_groups" : null
  }}
}}"""
    else:
        text = """{
  "port" : {
    "security_groups" : null
  }
}"""
    status, body = call(provider, "PUT", f"/ports/{port['id']}", text)
    assert status == 200, body
    assert set(body) == {"port"}
    return port["id"]


def test_first_second_and_third_start_of_a_vm(provider):
    status, body = call(provider, "POST", "/networks", """{
  "network" : {
    "name" : "ovirt-net",
    "admin_state_up" : true,
    "tenant_id" : "oVirt"
  }
}""")
    assert status == 201, body
    net = body["network"]
    status, body = call(provider, "POST", "/subnets", f"""{{
  "subnet" : {{
    "name" : "ovirt-subnet",
    "enable_dhcp" : true,
    "network_id" : "{net['id']}",
    "tenant_id" : "oVirt",
    "dns_nameservers" : [ "8.8.8.8" ],
    "ip_version" : 4,
    "gateway_ip" : "10.77.0.1",
    "cidr" : "10.77.0.0/24"
  }}
}}""")
    assert status == 201, body
    vnic_id, mac = str(uuid.uuid4()), "56:6f:1f:3b:00:01"

    first = allocate(provider, net, vnic_id, mac, "host-a")
    port = locate_port(provider, vnic_id)
    assert port["id"] == first and port["security_groups"] == []
    # On OVN: ACTIVE only once ovn-northd says the port is up (test_ovn.py).
    want = "DOWN" if provider.backend == "ovn" else "ACTIVE"
    assert port["binding:host_id"] == "host-a" and port["status"] == want
    address = port["fixed_ips"][0]["ip_address"]

    # VM stopped (the port stays), started again on the same host.
    assert allocate(provider, net, vnic_id, mac, "host-a") == first
    # Third start, on another host: mac_address and binding:host_id too.
    assert allocate(provider, net, vnic_id, mac, "host-b") == first
    port = locate_port(provider, vnic_id)
    assert port["binding:host_id"] == "host-b"
    assert port["security_groups"] == [] and port["mac_address"] == mac
    assert port["fixed_ips"][0]["ip_address"] == address  # kept

    # Migration back: the engine ignores security groups there.
    status, _ = call(provider, "PUT", f"/ports/{first}", f"""{{
  "port" : {{
    "mac_address" : "{mac}",
    "binding:host_id" : "host-a"
  }}
}}""")
    assert status == 200
    assert locate_port(provider, vnic_id)["binding:host_id"] == "host-a"

    # Remove the NIC: locate, then DELETE.
    assert call(provider, "DELETE", f"/ports/{first}") == (204, None)
    assert locate_port(provider, vnic_id) is None


def test_security_groups_null_on_create_and_update(provider):
    status, body = call(provider, "POST", "/networks",
                        '{\n  "network" : {\n    "name" : "sg"\n  }\n}')
    net = body["network"]
    status, body = call(provider, "POST", "/ports", f"""{{
  "port" : {{
    "network_id" : "{net['id']}",
    "security_groups" : null
  }}
}}""")
    assert status == 201 and body["port"]["security_groups"] == []
    port_id = body["port"]["id"]
    status, body = call(provider, "PUT", f"/ports/{port_id}", """{
  "port" : {
    "security_groups" : [ "web" ]
  }
}""")
    assert status == 200 and body["port"]["security_groups"] == ["web"]
    status, body = call(provider, "PUT", f"/ports/{port_id}", """{
  "port" : {
    "security_groups" : null
  }
}""")
    assert status == 200 and body["port"]["security_groups"] == []
    # still a list when not null
    status, body = call(provider, "PUT", f"/ports/{port_id}",
                        '{"port": {"security_groups": "web"}}')
    assert status == 400
    assert "security_groups" in body["NeutronError"]["message"]

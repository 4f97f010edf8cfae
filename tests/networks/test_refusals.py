"""What the SQLite backend and the drivers cannot make real is refused."""

import pytest
from neutronclient.common import exceptions as nexc

from net_helpers import network


@pytest.mark.parametrize("ntype,seg", [("vxlan", 5001), ("geneve", 77), ("gre", 9)])
def test_tunnel_networks_refused_on_sqlite(neutron, provider, ntype, seg):
    name = f"tunnel-{ntype}"
    with pytest.raises(nexc.BadRequest):
        network(neutron, name, ntype, vlan=seg)
    status, body = _post(provider.url + "/v2.0/networks", {"network": {
        "name": name, "provider:network_type": ntype, "provider:segmentation_id": seg}})
    message = body["NeutronError"]["message"]  # what the engine shows
    assert status == 400 and "\n" not in message and len(message) <= 240
    assert "OVN" in message and "--backend ovn" in message and ntype in message
    assert not neutron.list_networks(name=name)["networks"]  # nothing stored


def test_update_to_a_tunnel_type_refused(neutron):
    net = network(neutron, "stay-local")
    with pytest.raises(nexc.BadRequest, match="OVN"):
        neutron.update_network(net["id"], {"network": {"provider:network_type": "vxlan",
                                                       "provider:segmentation_id": 5002}})
    assert neutron.show_network(net["id"])["network"]["provider:network_type"] == "local"


def test_local_networks_get_distinct_tags(neutron):
    nets = [network(neutron, f"tagged-{i}") for i in range(3)]
    ports = [neutron.create_port({"port": {"network_id": n["id"]}})["port"] for n in nets]
    tags = [p["binding:vif_details"]["local_tag"] for p in ports]
    assert len(set(tags)) == 3 and all(t.isdigit() and 1 <= int(t) <= 4094 for t in tags)
    again = neutron.create_port({"port": {"network_id": nets[0]["id"]}})["port"]
    assert again["binding:vif_details"]["local_tag"] == tags[0]
    vlan = network(neutron, "no-local-tag", "vlan", physnet="physnet1", vlan=241)
    port = neutron.create_port({"port": {"network_id": vlan["id"]}})["port"]
    assert "local_tag" not in port["binding:vif_details"]


def _post(url, body):
    import json
    import urllib.error
    import urllib.request
    request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.load(answer)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)

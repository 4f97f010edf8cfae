"""Request/Response survive a JSON round trip unchanged (the agent boundary)."""

import json

from vif_driver.hook.protocol import Request, Response


def test_request_round_trip():
    request = Request("before_device_create", "<interface/>", {"vnic_id": "x"}, dry_run=True)
    back = Request.from_dict(json.loads(json.dumps(request.to_dict())))
    assert back.to_dict() == request.to_dict()


def test_response_round_trip():
    response = Response(2, None, ["bad vnic_id"], ["read Bridge br-int"])
    back = Response.from_dict(json.loads(json.dumps(response.to_dict())))
    assert back.to_dict() == response.to_dict()
    assert Response().to_dict() == {"exit_code": 0, "data": None, "messages": [], "actions": []}

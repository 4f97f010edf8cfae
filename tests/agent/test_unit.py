"""The agent's pieces that need no root: framing, the hook side's JSON
without the json module, the quick config read, validation."""

import json

import pytest
from agent_helpers import ENGINE_XML, request

from vif_driver import fastjson
from vif_driver.hook import client
from vif_driver.agent import validation
from vif_driver.hook.protocol import Request


@pytest.mark.parametrize("obj", [
    {"a": "x\u00e9\"\\\n\t\x01", "b": [1, True, None, {"c": -5}], "d": False},
    {"data": "<?xml version='1.0'?>\n<interface/>", "properties": {"k": "\u2603\U0001d11e"}},
    [], "", 0,
])
def test_json_without_json_module_round_trips(obj):
    text = fastjson.dumps(obj)
    assert json.loads(text) == obj
    assert fastjson.loads(text) == obj
    assert fastjson.loads(json.dumps(obj, indent=2)) == obj


@pytest.mark.parametrize("text", ["", "NaN", '{"a": 1} x', "[1,", "[" * 100000, "{'a': 1}", "Infinity"])
def test_json_reader_refuses_what_is_not_one_json_value(text):
    with pytest.raises(ValueError):
        fastjson.loads(text)


def test_frame_is_length_prefixed_and_bounded():
    assert client.frame(b"abc") == b"\x00\x00\x00\x03abc"
    with pytest.raises(client.ProtocolError):
        client.frame(b"x" * (client.MAX_MESSAGE + 1))


@pytest.mark.parametrize("data", ["<interface/>", "", None, "{\"k\": \"\u2603 \\\" \\n\"}"])
def test_message_carries_data_as_raw_bytes_after_the_envelope(data):
    payload = client.pack({"exit_code": 0, "data": data, "messages": []}, data)[4:]
    envelope, raw = client.unpack(payload)
    head = json.loads(envelope)
    assert head == {"exit_code": 0, "data": None if data is None else len(data.encode()), "messages": []}
    assert raw == (b"" if data is None else data.encode())  # not escaped into the JSON
    assert client.data_of(head, raw) == data


@pytest.mark.parametrize("payload, fragment", [
    (b"\x00\x00", "shorter"),
    (b"\x00\x00\x00\x09{}", "longer"),
    (b'{"data": 1}', "envelope length"),
])
def test_unpack_refuses_malformed_frames(payload, fragment):
    with pytest.raises(client.ProtocolError, match=fragment):
        client.unpack(payload)


@pytest.mark.parametrize("head, raw, fragment", [
    ({"data": None}, b"x", "null"),
    ({"data": "x"}, b"x", "must be int"),
    ({"data": True}, b"x", "must be int"),
    ({"data": 2}, b"x", "announces 2 bytes"),
    ({"data": 1}, b"\xff", "not UTF-8"),
])
def test_data_must_match_its_envelope(head, raw, fragment):
    with pytest.raises(ValueError, match=fragment):
        client.data_of(head, raw)


def test_deadlines_order_agent_before_client():
    assert client.request_deadline(10) < client.answer_bound(client.request_deadline(10))


def test_announcement_is_recognised_and_bounded():
    assert client._announced(client.announcement(20.0)[client.HEADER:], "s") == 20.0
    response = client.pack({"exit_code": 0, "messages": [], "actions": []}, None)[client.HEADER:]
    assert client._announced(response, "s") is None
    for bad in (0, -1, "20", True, client.MAX_DEADLINE + 1):
        with pytest.raises(client.AgentError, match="not a deadline announcement"):
            client._announced(client.pack({"deadline": bad}, None)[client.HEADER:], "s")


def test_client_sends_only_property_like_environment():
    props = {"vnic_id": "x", "_hook_domxml": "/tmp/f", "BASH_FUNC_x%%": "() { :; }",
             "1abc": "x", "big": "x" * (client.MAX_VALUE + 1), "a-b": "x", "ok_2": "y"}
    assert client.properties_to_send(props) == {"vnic_id": "x", "_hook_domxml": "/tmp/f", "ok_2": "y"}


def test_validation_accepts_a_hook_request():
    req = validation.request_from(request())
    assert isinstance(req, Request)
    assert req.hook_point == "before_device_create" and req.data == ENGINE_XML
    validation.identifiers(req)


@pytest.mark.parametrize("obj, fragment", [
    ([], "JSON object"),
    ({**request(), "config": "/tmp/evil.conf"}, "unknown request field"),
    ({k: v for k, v in request().items() if k != "data"}, "data is missing"),
    ({**request(), "hook_point": 7}, "hook_point must be str"),
    ({**request(), "hook_point": "../../bin/sh"}, "unknown hook point"),
    ({**request(), "dry_run": "yes"}, "dry_run must be bool"),
    ({**request(), "properties": [["vnic_id", "x"]]}, "properties must be dict"),
    ({**request(), "data": "x" * (client.MAX_XML + 1)}, "over the"),
    ({**request(), "data": "<interface>\0</interface>"}, "NUL"),
    (request(**{"a;rm -rf /": "x"}), "property name"),
    (request(**{"x" * 200: "x"}), "property name"),
    (request(vnic_id=["x"]), "must be a string"),
    (request(vnic_id="x" * (client.MAX_VALUE + 1)), "over the"),
    (request(vnic_id="a\0b"), "NUL"),
    ({**request(), "properties": {f"p{i}": "x" for i in range(client.MAX_PROPERTIES + 1)}}, "over the limit"),
])
def test_validation_refuses_malformed_requests(obj, fragment):
    with pytest.raises(validation.Refused, match=fragment):
        validation.request_from(obj)


@pytest.mark.parametrize("props, fragment", [
    ({"vnic_id": "$(reboot)"}, "vnic_id"),
    ({"vnic_id": "../../etc/passwd"}, "vnic_id"),
    ({"vnic_id": "-rf"}, "vnic_id"),
    ({"vnic_id": "a" * 65}, "vnic_id"),
    ({"vmId": "not-a-uuid;ls"}, "vmId"),
    ({"plugin_type": "TEST_SDN`id`"}, "plugin_type"),
])
def test_validation_refuses_hostile_identifiers(props, fragment):
    req = validation.request_from(request(**props))
    with pytest.raises(validation.Refused, match=fragment):
        validation.identifiers(req)


def _answered_with(tmp_path, payload: bytes):
    """client.call against a fake agent that answers ``payload`` (framed)."""
    import socket
    import threading
    path = str(tmp_path / f"fake{len(list(tmp_path.iterdir()))}.sock")
    server = socket.socket(socket.AF_UNIX)
    server.bind(path)
    server.listen(1)

    def serve():
        conn, _ = server.accept()
        with conn:
            client.read_message(conn)
            conn.sendall(client.frame(payload))
    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        return client.call(Request("after_get_stats", "{}", {}), path)
    finally:
        thread.join(10)
        server.close()


def _answer(data: bytes, count, **changes) -> bytes:
    head = json.dumps({"exit_code": 0, "data": count, "messages": [], "actions": [], **changes}).encode()
    return len(head).to_bytes(4, "big") + head + data


def test_client_keeps_the_answers_data_as_bytes(tmp_path):
    text = '{"network": {"tap1": {"name": "tap1"}}, "x": "\u2603"}'
    answer = _answered_with(tmp_path, _answer(text.encode(), len(text.encode())))
    assert bytes(answer.raw) == text.encode()  # what the entrypoint writes, as received
    assert answer.data == text and answer.to_dict()["data"] == text
    assert _answered_with(tmp_path, _answer(b"", None)).data is None


@pytest.mark.parametrize("payload, fragment", [
    (_answer(b"{}", 3), "announces 3 bytes"),
    (_answer(b"{}", None), "null"),
    (_answer(b'{"\xff"}', 5), "not UTF-8"),
    (_answer(b"{}", "2"), "must be int"),
    (b'{"exit_code": 0, "data": null, "messages": [], "actions": []}', "envelope length"),
    (_answer(b"", None, exit_code="0"), "not a Response"),
])
def test_client_refuses_a_malformed_answer(tmp_path, payload, fragment):
    with pytest.raises(client.AgentError, match=fragment):
        _answered_with(tmp_path, payload)

"""The agent's pieces that need no root: the wire format both sides share,
the hook side's parse of an answer, the agent's validation of a request."""

import pytest

from vif_driver.agent import validation
from vif_driver.hook import client
from vif_driver.hook.protocol import Request, Response

from agent_helpers import ENGINE_XML, fields, request, request_fields


def test_message_is_length_prefixed_and_bounded():
    assert client.message(b"deadline", [("seconds", "1.5")]) == (
        b"\x00\x00\x00\x1e" b"\x00\x00\x00\x08deadline" b"\x00\x00\x00\x07seconds" b"\x00\x00\x00\x031.5")
    with pytest.raises(client.ProtocolError, match="over the"):
        client.message(b"response", [("data", b"x" * client.MAX_MESSAGE)])


@pytest.mark.parametrize("data", ["<interface/>", "", "{\"k\": \"\u2603 \\\" \\n\"}", "a\nb\x01"])
def test_request_carries_data_as_its_bytes(data):
    req = Request("before_device_create", data, {"vnic_id": "x", "p": "a=b"}, dry_run=True)
    payload = client.request_message(req)[client.HEADER:]
    kind, pairs = client.fields_of(payload)
    assert kind == client.REQUEST
    assert [(k, bytes(v)) for k, v in pairs] == [
        ("hook_point", b"before_device_create"), ("dry_run", b"true"), ("data", data.encode()),
        ("property", b"vnic_id=x"), ("property", b"p=a=b")]
    back = validation.request_from(payload)
    assert (back.hook_point, back.data, back.properties, back.dry_run) == (
        req.hook_point, data, req.properties, True)


@pytest.mark.parametrize("response", [
    Response(0), Response(1, "{}", ["one line"], ["did x", "did y"]), Response(2, "", [], []),
    Response(0, "\u2603 <interface/>", [], []),
])
def test_response_round_trips(response):
    kind, pairs = client.fields_of(client.response_message(response)[client.HEADER:])
    back = client.response_of(pairs)
    assert kind == client.RESPONSE and back.to_dict() == response.to_dict() and not back.debug
    _, pairs = client.fields_of(client.response_message(response, debug=True)[client.HEADER:])
    assert client.response_of(pairs).debug


@pytest.mark.parametrize("payload, fragment", [
    (b"", "empty"),
    (b"\x00\x00", "of its 4-byte length"),
    (b"\x00\x00\x00\x09{}", "announces 9 bytes"),
    (b'{"data": 1}', "announces"),
    (fields("request", "data"), "key without a value"),
    (fields("hello"), "not a vif-driver message"),
    (fields("request", "", "x"), "not a word"),
])
def test_malformed_messages_are_refused(payload, fragment):
    with pytest.raises(client.ProtocolError, match=fragment):
        client.fields_of(payload)


def test_deadlines_order_agent_before_client():
    assert client.request_deadline(10) < client.answer_bound(client.request_deadline(10))


def test_client_sends_only_property_like_environment():
    props = {"vnic_id": "x", "_hook_domxml": "/tmp/f", "BASH_FUNC_x%%": "() { :; }",
             "1abc": "x", "big": "x" * (client.MAX_VALUE + 1), "a-b": "x", "ok_2": "y"}
    assert client.properties_to_send(props) == {"vnic_id": "x", "_hook_domxml": "/tmp/f", "ok_2": "y"}


def test_validation_accepts_a_hook_request():
    req = validation.request_from(request_fields(request()))
    assert isinstance(req, Request)
    assert req.hook_point == "before_device_create" and req.data == ENGINE_XML
    validation.identifiers(req)


@pytest.mark.parametrize("obj, fragment", [
    ({**request(), "config": "/tmp/evil.conf"}, "unknown request field"),
    ({k: v for k, v in request().items() if k != "data"}, "data is missing"),
    ({**request(), "hook_point": b"\xff"}, "hook_point is not UTF-8"),
    ({**request(), "hook_point": "../../bin/sh"}, "unknown hook point"),
    ({**request(), "dry_run": "yes"}, "dry_run must be true or false"),
    ({**request(), "data": "x" * (client.MAX_XML + 1)}, "over the"),
    ({**request(), "data": "<interface>\0</interface>"}, "NUL"),
    (request(**{"a;rm -rf /": "x"}), "NAME=VALUE"),
    (request(**{"x" * 200: "x"}), "NAME=VALUE"),
    (request(vnic_id="x" * (client.MAX_VALUE + 1)), "over the"),
    (request(vnic_id="a\0b"), "NUL"),
    ({**request(), "properties": {f"p{i}": "x" for i in range(client.MAX_PROPERTIES + 1)}}, "over the limit"),
])
def test_validation_refuses_malformed_requests(obj, fragment):
    with pytest.raises(validation.Refused, match=fragment):
        validation.request_from(request_fields(obj))


def test_validation_refuses_a_property_without_a_name():
    with pytest.raises(validation.Refused, match="NAME=VALUE"):
        validation.request_from(fields("request", "hook_point", "after_get_caps", "data", "", "property", "novalue"))


@pytest.mark.parametrize("props, fragment", [
    ({"vnic_id": "$(reboot)"}, "vnic_id"),
    ({"vnic_id": "../../etc/passwd"}, "vnic_id"),
    ({"vnic_id": "-rf"}, "vnic_id"),
    ({"vnic_id": "a" * 65}, "vnic_id"),
    ({"vmId": "not-a-uuid;ls"}, "vmId"),
    ({"plugin_type": "TEST_SDN`id`"}, "plugin_type"),
])
def test_validation_refuses_hostile_identifiers(props, fragment):
    req = validation.request_from(request_fields(request(**props)))
    with pytest.raises(validation.Refused, match=fragment):
        validation.identifiers(req)


def _answered_with(tmp_path, *payloads: bytes):
    """client.call against a fake agent that answers ``payloads`` (each framed)."""
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
            for payload in payloads:
                conn.sendall(len(payload).to_bytes(4, "big") + payload)
    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        return client.call(Request("after_get_stats", "{}", {}), path)
    finally:
        thread.join(10)
        server.close()


def test_client_keeps_the_answers_data_as_bytes(tmp_path):
    text = '{"network": {"tap1": {"name": "tap1"}}, "x": "\u2603"}'
    answer = _answered_with(tmp_path, fields("response", "exit_code", "0", "data", text.encode()))
    assert bytes(answer.raw) == text.encode()  # what the entrypoint writes, as received
    assert answer.data == text and answer.to_dict()["data"] == text
    assert _answered_with(tmp_path, fields("response", "exit_code", "0")).data is None


def test_client_waits_for_the_deadline_it_is_told(tmp_path):
    answer = _answered_with(tmp_path, fields("deadline", "seconds", "20.0"),
                            fields("response", "exit_code", "1", "message", "late"))
    assert answer.exit_code == 1 and answer.messages == ["late"]


@pytest.mark.parametrize("payload, fragment", [
    (fields("response", "exit_code", "0", "data", b'{"\xff"}'), "data is not UTF-8"),
    (fields("response", "exit_code", "256"), "not 0-255"),
    (fields("response", "exit_code", "-1"), "not 0-255"),
    (fields("response", "message", "x"), "no exit_code"),
    (fields("response", "exit_code", "0", "exit_code", "1"), "repeated response field exit_code"),
    (fields("response", "exit_code", "0", "config", "x"), "unexpected or repeated response field config"),
    (fields("request", "hook_point", "x"), "a request message where a response is expected"),
    (fields("deadline", "seconds", "0"), "not in \\(0,"),
    (fields("deadline", "seconds", "x"), "not a number"),
    (fields("deadline", "seconds", str(client.MAX_DEADLINE + 1)), "not in \\(0,"),
    (fields("deadline"), "exactly one seconds field"),
    (b'{"exit_code": 0, "data": null, "messages": [], "actions": []}', "announces"),
])
def test_client_refuses_a_malformed_answer(tmp_path, payload, fragment):
    with pytest.raises(client.AgentError, match=fragment):
        _answered_with(tmp_path, payload)

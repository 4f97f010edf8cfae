"""Malformed and hostile requests sent straight to the agent's socket: each
is refused with a clear error and the agent keeps serving."""

import json
import socket
import time

import pytest

from vif_driver.hook import client

from agent_helpers import ENGINE_XML, answer_of, fields, raw_exchange, request, request_fields, send

pytestmark = pytest.mark.root


@pytest.fixture
def agent(agent_config, start_agent):
    return start_agent(agent_config())


def assert_serving(agent):
    answer = send(agent.socket, request())
    assert answer["exit_code"] == 0, answer
    assert '<source bridge="br-test"/>' in answer["data"]
    assert agent.proc.poll() is None


def refused(answer, fragment):
    assert answer is not None, "closed without an answer"
    assert answer["exit_code"] == 2, answer
    assert answer["data"] is None
    assert len(answer["messages"]) == 1 and fragment in answer["messages"][0], answer["messages"]
    assert len(answer["messages"][0]) < 400  # one readable line, even for huge input


RAW = [
    ("not-fields", b"rm -rf /", "announces"),
    ("json", json.dumps(request()).encode(), "announces"),
    ("not-a-kind", fields("reboot"), "not a vif-driver message"),
    ("response-kind", fields("response", "exit_code", "0"), "a response message where a request is expected"),
    ("key-without-value", fields("request", "hook_point"), "a key without a value"),
    ("key-not-a-word", fields("request", "hook point;", "x"), "not a word"),
    ("empty", b"", "message is empty"),
    ("short-length", b"\x00\x01", "of its 4-byte length"),
    ("field-past-end", (10**6).to_bytes(4, "big") + b"request", "announces 1000000 bytes"),
    ("many-fields", fields("request", *["property", "a=b"] * 5000), "fields"),
]


@pytest.mark.parametrize("name, payload, fragment", RAW, ids=[r[0] for r in RAW])
def test_malformed_messages_are_refused(agent, name, payload, fragment):
    refused(raw_exchange(agent.socket, payload), fragment)
    assert_serving(agent)


HOSTILE = [
    ("hook-point-missing", {k: v for k, v in request().items() if k != "hook_point"}, "hook_point is missing"),
    ("data-missing", {k: v for k, v in request().items() if k != "data"}, "data is missing"),
    ("hook-point-not-utf8", {**request(), "hook_point": b"\xff"}, "hook_point is not UTF-8"),
    ("data-not-utf8", {**request(), "data": b"<\xff>"}, "data is not UTF-8"),
    ("dry-run-word", {**request(), "dry_run": "yes"}, "dry_run must be true or false"),
    ("config-path", {**request(), "config": "/tmp/evil.conf"}, "unknown request field"),
    ("unknown-hook-point", {**request(), "hook_point": "before_vm_start"}, "unknown hook point"),
    ("hook-point-traversal", {**request(), "hook_point": "../../../usr/bin/id"}, "unknown hook point"),
    ("hook-point-shell", {**request(), "hook_point": "after_get_caps; reboot"}, "unknown hook point"),
    ("huge-xml", {**request(), "data": "<interface>" + "x" * 300000 + "</interface>"}, "over the"),
    ("nul-in-data", {**request(), "data": ENGINE_XML + "\0"}, "NUL"),
    ("many-properties", {**request(), "properties": {f"p{i}": "" for i in range(1500)}}, "over the limit"),
    ("long-name", request(**{"p" * 1000: "x"}), "NAME=VALUE"),
    ("shell-name", request(**{"x;id": "1"}), "NAME=VALUE"),
    ("nul-value", request(vnic_id="ab\0cd"), "NUL"),
    ("huge-value", request(bridge="b" * 100000), "over the"),
    ("vnic-shell", request(vnic_id="$(touch /tmp/pwned)"), "property vnic_id"),
    ("vnic-backticks", request(vnic_id="`id`"), "property vnic_id"),
    ("vnic-traversal", request(vnic_id="../../etc/shadow"), "property vnic_id"),
    ("vnic-option", request(vnic_id="--if-exists"), "property vnic_id"),
    ("vnic-dash", request(vnic_id="-rf"), "property vnic_id"),
    ("vnic-too-long", request(vnic_id="a" * 65), "property vnic_id"),
    ("vm-id-shell", request(vmId="0b7c3a5e;reboot"), "property vmId"),
]


def test_a_repeated_field_is_refused(agent):
    payload = request_fields(request()) + fields("hook_point", "after_get_caps")
    refused(raw_exchange(agent.socket, payload), "hook_point is repeated")
    payload = request_fields(request()) + fields("property", "vnic_id=x")
    refused(raw_exchange(agent.socket, payload), "property vnic_id is repeated")
    assert_serving(agent)


@pytest.mark.parametrize("name, obj, fragment", HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_requests_are_refused(agent, name, obj, fragment):
    refused(send(agent.socket, obj), fragment)
    assert_serving(agent)


@pytest.mark.parametrize("bridge", ["--may-exist", "-rf", "br;reboot", "../../x", "br int", "$(id)",
                                    "a" * 16, "br\nx"])
def test_hostile_option_values_stop_at_the_driver_grammar(agent, bridge):
    answer = send(agent.socket, request(bridge=bridge))
    assert answer["exit_code"] == 2
    assert "property bridge" in answer["messages"][0]
    assert answer["data"] is None
    assert_serving(agent)


def test_oversized_length_is_refused_before_reading(agent):
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(10)
        s.connect(agent.socket)
        s.sendall((client.MAX_MESSAGE + 1).to_bytes(4, "big"))
        answer = answer_of(client.read_message(s))
    refused(answer, "over the 4194304-byte limit")
    assert_serving(agent)


def test_real_oversized_payload_is_refused(agent):
    refused(raw_exchange(agent.socket, (client.MAX_MESSAGE + 10).to_bytes(4, "big") + b"x" * (client.MAX_MESSAGE + 10),
                         frame=False), "over the")
    assert_serving(agent)


def test_truncated_message_is_refused(agent):
    refused(raw_exchange(agent.socket, (1000).to_bytes(4, "big") + fields("request"), frame=False, timeout=30),
            "message not received in time")
    assert_serving(agent)


def test_silent_clients_do_not_block_others(agent):
    """Connections that send nothing are dropped after the read deadline;
    meanwhile other requests are answered."""
    idle = [socket.socket(socket.AF_UNIX) for _ in range(20)]
    try:
        for s in idle:
            s.connect(agent.socket)
        started = time.monotonic()
        assert_serving(agent)
        assert time.monotonic() - started < 2
    finally:
        for s in idle:
            s.close()


def test_empty_connection_is_harmless(agent):
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(agent.socket)
    assert_serving(agent)


def test_dry_run_changes_nothing_but_reports(agent):
    answer = send(agent.socket, {**request(), "dry_run": True})
    assert answer["exit_code"] == 0
    assert any("checked bridge br-test" in a for a in answer["actions"])


@pytest.mark.parametrize("props", [{"plugin_type": "TEST_SDN;reboot"}, {"provider_type": "EXTERNAL_NETWORK|x"},
                                   {"plugin_type": "../TEST_SDN", "vnic_id": "$(id)"}])
def test_requests_for_no_configured_driver_do_nothing(agent, props):
    """Not ours (like another provider's vNIC): answered 0, nothing done,
    and no grammar of ours imposed on another provider's ids."""
    answer = send(agent.socket, request(**props))
    assert answer == {"exit_code": 0, "data": None, "messages": [], "actions": []}
    assert_serving(agent)


@pytest.mark.parametrize("data, message", [
    ('{"cpuCores": "4", "net', "$_hook_json is not valid JSON: Unterminated string starting at line 1 column 19"),
    ('{"a": ' + "[" * 100000, "$_hook_json nests JSON arrays or objects too deeply for Python's json module"),
    ('{"a": ' + "7" * 5000 + "}", "$_hook_json has an integer of 5000 digits, over Python's limit of 4300 "
                                  "(sys.set_int_max_str_digits)"),
])
def test_bad_caps_json_gets_the_in_process_line(agent, data, message):
    answer = send(agent.socket, request("after_get_caps", data))
    assert answer["exit_code"] == 1 and answer["data"] is None
    assert answer["messages"] == [f"vif-driver after_get_caps: {message}; check the scripts that ran before ours "
                                  "(VDSM itself writes plain JSON objects)"]
    assert len(answer["messages"][0]) <= 240
    assert_serving(agent)

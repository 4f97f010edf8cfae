"""ovn_json.StreamParser: python-ovs's stream parser interface, decoded in C.

The property that matters: fed a stream of concatenated JSON-RPC messages
in arbitrary pieces, the way ovs.jsonrpc feeds it, it yields exactly the
messages json.loads would, whatever the cut (inside strings, on escapes,
between messages).
"""

from __future__ import annotations

import json
import random

import pytest

ovn_json = pytest.importorskip("vif_driver.provider.ovn_json")


def _value(rng: random.Random, depth: int = 0):
    if depth > 3 or rng.random() < 0.3:
        return rng.choice([1, -2.5, True, None, 'a"b\\', "x\\", '\\"', "é{[}]", "", "\t", 2 ** 40])
    if rng.random() < 0.5:
        return {rng.choice(['k', '"', '\\', '{', ']']) + str(i): _value(rng, depth + 1)
                for i in range(rng.randrange(4))}
    return [_value(rng, depth + 1) for _ in range(rng.randrange(4))]


def _feed_like_jsonrpc(pieces: list[str]) -> list:
    """ovs.jsonrpc.Connection.recv's loop: a parser per message, the input
    it did not take kept for the next one."""
    messages, parser, pending = [], None, ""
    for piece in pieces:
        pending += piece
        while pending:
            parser = parser or ovn_json.StreamParser()
            pending = pending[parser.feed(pending):]
            if parser.is_done():
                messages.append(parser.finish())
                parser = None
    return messages


def test_messages_cut_anywhere_come_out_whole():
    rng = random.Random(13)
    for trial in range(2000):
        values = [{"id": trial, "params": [_value(rng)]}, [_value(rng)], {"result": _value(rng)}]
        text = "".join(json.dumps(v) + ("\n" if trial % 3 else "") for v in values)
        cuts = sorted(rng.sample(range(1, len(text)), min(len(text) - 1, rng.randrange(8))))
        pieces = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)])]
        assert _feed_like_jsonrpc(pieces) == values, (text, pieces)


def test_bad_input_is_an_error_string():
    for bad in ('"a string"', '{"a": 1,}', "nonsense"):
        parser = ovn_json.StreamParser()
        parser.feed(bad)
        assert parser.is_done()
        assert isinstance(parser.finish(), str)
    parser = ovn_json.StreamParser()
    parser.feed('{"unfinished": ')
    assert not parser.is_done() and parser.finish() == "unexpected end of input"


def test_trailer_check_as_python_ovs_from_string_does():
    parser = ovn_json.StreamParser(check_trailer=True)
    parser.feed('{"a": 1} x')
    assert parser.finish() == "trailing garbage at end of input"
    parser = ovn_json.StreamParser(check_trailer=True)
    parser.feed('{"a": 1}  \n')
    assert parser.finish() == {"a": 1}


def test_installed_in_python_ovs_only_without_its_c_parser():
    import ovs.json
    installed = ovn_json.install()
    if ovs.json.PARSER == ovs.json.PARSER_C:
        assert not installed
    else:
        assert installed and ovs.json.Parser is ovn_json.StreamParser
        assert ovs.json.from_string('{"x": [1, "y"]}') == {"x": [1, "y"]}

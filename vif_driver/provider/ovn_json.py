"""A fast JSON stream parser for python-ovs, used when its C parser is absent.

Why: python-ovs parses every JSON-RPC message from ovsdb-server with
``ovs.json.Parser``; without its optional C extension (``ovs._json``, not
in the wheel pip installs) that is a pure-Python state machine, one call per
character.  It was a sixth of a provider worker's CPU per port write (the
transaction reply and the update, in every worker's IDL) and makes the first
dump of 10,000 ports take seconds.

This parser keeps python-ovs's interface for its Python parser (``feed``
returns how many characters it took, ``is_done``, ``finish`` returns the
value or an error string) and does the work in C: a message that arrived
whole is decoded at once (``raw_decode``); otherwise a regular expression
finds where the first complete JSON value ends (whole strings are skipped
by the expression, only brackets cost a Python step), then ``json.loads``
decodes it.  State carries across ``feed`` calls, so a large message arriving in
4 KiB pieces is scanned once, not once per piece.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import ovs.json

log = logging.getLogger(__name__)

# A whole string, a bracket, or a string that does not end in this text.
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[{}\[\]]|"', re.DOTALL)
_STRING_REST = re.compile(r'(?:[^"\\]|\\.)*', re.DOTALL)  # string body from inside it
_SPACE = re.compile(r"[ \t\r\n]*")
_OPEN, _CLOSE = frozenset("{["), frozenset("}]")
_DECODER = json.JSONDecoder()


def _match_end(pattern: re.Pattern, s: str, pos: int = 0) -> int:
    """End of ``pattern`` at ``pos`` (patterns that also match nothing)."""
    m = pattern.match(s, pos)
    return pos if m is None else m.end()


class StreamParser:
    """One JSON value from a stream, fed in pieces (python-ovs's Parser API)."""

    def __init__(self, check_trailer: bool = False) -> None:
        self.check_trailer = check_trailer
        self._parts: list[str] = []
        self._depth = 0
        self._in_string = False
        self._escape = False    # the last piece ended inside a string on a backslash
        self._started = False
        self._done = False
        self._value: Any = None
        self._error: str | None = None

    def feed(self, s: str) -> int:
        if self._done:
            if self.check_trailer and s.strip():
                self._error = "trailing garbage at end of input"
            return len(s) if self.check_trailer else 0
        if not self._parts and not self._started:
            # Mostly the whole message is in this piece: decode it at once.
            start = _match_end(_SPACE, s)
            if start < len(s) and s[start] in _OPEN:
                try:
                    self._value, whole = _DECODER.raw_decode(s, start)
                except ValueError:
                    pass  # not complete (or not JSON): scan it
                else:
                    self._done = True
                    return whole + self.feed(s[whole:]) if self.check_trailer else whole
        end = self._scan(s)
        if end is None:
            self._parts.append(s)
            return len(s)
        self._parts.append(s[:end])
        self._finish_value()
        if self.check_trailer:
            return end + self.feed(s[end:])
        return end

    def _scan(self, s: str) -> int | None:
        """Where in ``s`` the value ends (just past it), or None: not yet."""
        if not s:
            return None
        pos = 0
        if self._escape:
            pos, self._escape = 1, False
        if self._in_string:
            after = self._string_end(s, pos)
            if after is None:
                return None
            pos = after
        if not self._started:
            pos = _match_end(_SPACE, s, pos)
            if pos == len(s):
                return None
            if s[pos] not in _OPEN:
                self._fail(f"a JSON-RPC message must be an object or array, not {s[pos]!r}...")
                return pos
            self._started = True
        for m in _TOKEN.finditer(s, pos):
            c = m.group()
            if c in _OPEN:
                self._depth += 1
            elif c in _CLOSE:
                self._depth -= 1
                if self._depth == 0:
                    return m.end()
            elif c == '"':  # a string that goes on in the next piece
                self._in_string = True
                rest = self._string_end(s, m.end())
                if rest is not None:  # cannot happen: the whole string would have matched
                    raise AssertionError("unterminated string ended")
                return None
        return None

    def _string_end(self, s: str, pos: int) -> int | None:
        """Past the closing quote of a string we are inside, or None."""
        end = _match_end(_STRING_REST, s, pos)
        if end < len(s) and s[end] == '"':
            self._in_string = False
            return end + 1
        if end < len(s):  # a backslash, the last character: its escape comes next
            self._escape = True
        return None

    def _finish_value(self) -> None:
        self._done = True
        if self._error is not None:
            return
        text = "".join(self._parts)
        self._parts = []
        try:
            self._value = json.loads(text)
        except ValueError as exc:
            self._error = str(exc)

    def _fail(self, why: str) -> None:
        self._error = why
        self._done = True

    def is_done(self) -> bool:
        return self._done

    def finish(self) -> Any:
        if not self._done:
            if self._parts and "".join(self._parts).strip():
                return "unexpected end of input"
            return "empty input stream"
        return self._error if self._error is not None else self._value


def install() -> bool:
    """Make python-ovs parse with StreamParser, unless it has its C parser.

    ``ovs.jsonrpc`` makes each message's parser as ``ovs.json.Parser()`` and
    feeds it the Python way while ``ovs.json.PARSER`` says "PYTHON".
    Returns whether it was installed (idempotent)."""
    if ovs.json.PARSER != ovs.json.PARSER_PY:
        return False
    if ovs.json.Parser is not StreamParser:
        module: Any = ovs.json
        module.Parser = StreamParser
        log.debug("python-ovs without its C JSON parser: using %s", __name__)
    return True

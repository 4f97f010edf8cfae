"""The agent protocol, hook side: send a Request, get a Response; and the
wire format both sides share.

A message is a 4-byte big-endian length, then that many bytes of *fields*,
each a 4-byte big-endian length and its bytes. The first field names the
message: ``request``, ``deadline`` or ``response``; the rest are key/value
pairs of fields, values as text (UTF-8) or bytes (``data``):

    request   hook_point NAME, dry_run true|false, data BYTES,
              property NAME=VALUE (one pair per property)
    deadline  seconds N          (the agent's first answer to a request it
                                  runs: the bound the hook then waits for)
    response  exit_code N, debug true (optional), data BYTES (absent: leave
              the file as it is), message LINE..., action LINE...

Device XML and caps/stats JSON (up to megabytes) thus travel as they are,
never escaped into or parsed out of a JSON string, and the hook process needs
no JSON at all: VDSM starts one per vNIC per hook, and ``json`` (with the
``re`` and ``enum`` it imports) would cost it about a third of a bare start.

One exchange per connection. The hook reads no config: it waits FIRST_ANSWER
for the first message (a hung agent is found out that fast whatever its
config), then, after a ``deadline``, that long + CLIENT_MARGIN for the
response. Nothing here decides what to do with the answer; the entrypoint
(vif_driver.hook.entry) applies it exactly as an in-process Response.

Standard library only. The socket is ``_socket.socket``, the C class that
``socket.socket`` subclasses, with the same API: ``import socket`` would
import ``enum`` and ``selectors`` (several ms) for nothing used here.
"""

from __future__ import annotations

import _socket  # socket.socket's base class, same API (see the module docstring)
import os
import time

from vif_driver.hook.protocol import Request, Response

HEADER = 4
MAX_MESSAGE = 4 * 1024 * 1024  # caps and stats JSON can be large
MAX_FIELDS = 4 * 1024  # properties (1024) + messages and actions
DEADLINE_FACTOR = 2  # the agent answers within 2 x [vif-driver] timeout + the driver's wait...
CLIENT_MARGIN = 5.0  # ...and a hook waits 5 s longer than the deadline announced
FIRST_ANSWER = 5.0  # a hook waits this long for the agent's first message
# an announcement over this is not believed: timeout and a driver's wait are each <= 3600
MAX_DEADLINE = (DEADLINE_FACTOR + 1) * 3600.0

REQUEST, DEADLINE, RESPONSE = b"request", b"deadline", b"response"

# limits shared by the hook's filter and the agent's validation
MAX_XML = 256 * 1024  # one <interface> element
MAX_PROPERTIES = 1024
MAX_NAME = 128
MAX_VALUE = 8192

# socket timeouts: TimeoutError from Python 3.10 on, _socket.timeout (an
# OSError, not a TimeoutError) on 3.9, EL9's /usr/bin/python3
_TIMEOUTS = (TimeoutError, _socket.timeout)


class ProtocolError(Exception):
    """A malformed, oversized or truncated message; the text is one line."""


class ReadTimeout(ProtocolError):
    """The message did not arrive in time."""


class AgentError(Exception):
    """The agent was reached but gave no usable answer; one-line message."""


# --- wire format --------------------------------------------------------------

def request_deadline(timeout: float, wait: float = 0.0) -> float:
    """Seconds the agent allows one request, from the config's timeout (the
    bound of each external call; a hook may make a few) and the wait the
    driver declares for the call (VifDriver.wait_bound, e.g. plug_timeout)."""
    return timeout * DEADLINE_FACTOR + wait


def answer_bound(deadline_s: float) -> float:
    """How long a hook waits for the response after a ``deadline``."""
    return deadline_s + CLIENT_MARGIN


def message(kind: bytes, pairs: list[tuple[str, bytes | str]]) -> bytes:
    """One framed message of ``kind`` with its key/value ``pairs``; text as
    UTF-8, surrogate-escaped bytes as the bytes they stand for (encoded())."""
    fields = [kind]
    for key, value in pairs:
        fields.append(key.encode("ascii"))
        if isinstance(value, str):
            try:
                value = encoded(value)
            except UnicodeEncodeError as e:
                raise ProtocolError(f"field {key} holds {value[e.start:e.end]!r}, which no bytes encode") from None
        fields.append(value)
    payload = b"".join(len(f).to_bytes(HEADER, "big") + f for f in fields)
    if len(payload) > MAX_MESSAGE:
        raise ProtocolError(f"message of {len(payload)} bytes is over the {MAX_MESSAGE}-byte limit")
    return len(payload).to_bytes(HEADER, "big") + payload


def fields_of(payload: bytes | memoryview) -> tuple[bytes, list[tuple[str, memoryview]]]:
    """(kind, [(key, value bytes), ...]) of a message's payload, in order."""
    view = memoryview(payload)
    fields: list[memoryview] = []
    at = 0
    while at < len(view):
        if len(fields) > 2 * MAX_FIELDS:
            raise ProtocolError(f"message has over {2 * MAX_FIELDS} fields")
        if len(view) - at < HEADER:
            raise ProtocolError(f"field at byte {at} has {len(view) - at} bytes of its {HEADER}-byte length")
        size = int.from_bytes(view[at:at + HEADER], "big")
        at += HEADER
        if size > len(view) - at:
            raise ProtocolError(f"field at byte {at - HEADER} announces {size} bytes, "
                                f"{len(view) - at} follow")
        fields.append(view[at:at + size])
        at += size
    if not fields:
        raise ProtocolError("message is empty")
    if len(fields) % 2 == 0:
        raise ProtocolError("message has a key without a value")
    kind = bytes(fields[0])
    if kind not in (REQUEST, DEADLINE, RESPONSE):
        raise ProtocolError(f"not a vif-driver message (kind {_shown(kind)}; request, deadline or response)")
    pairs = []
    for i in range(1, len(fields), 2):
        key = bytes(fields[i])
        if not (0 < len(key) <= 16 and key.isascii() and key.replace(b"_", b"a").isalpha()):
            raise ProtocolError(f"field key {_shown(key)} is not a word")
        pairs.append((key.decode("ascii"), fields[i + 1]))
    return kind, pairs


def encoded(value: str) -> bytes:
    """``value`` as UTF-8, with the bytes that are not UTF-8 which
    os.environ (or a file read with surrogateescape) holds as lone
    surrogates U+DC80..U+DCFF put back as they were: VDSM's environment can
    carry such bytes in a custom property. UnicodeEncodeError for any other
    lone surrogate (no bytes stand for it)."""
    return value.encode("utf-8", "surrogateescape")


def text(value: bytes | memoryview, key: str) -> str:
    try:
        return str(value, "utf-8")
    except UnicodeDecodeError:
        raise ProtocolError(f"field {key} is not UTF-8") from None


def environment_text(value: bytes | memoryview) -> str:
    """A property value, message or action: UTF-8, where bytes that are not
    become lone surrogates as in os.environ, so the agent's driver and the
    hook's stderr see the very str a hook process would (encoded()'s inverse)."""
    return str(value, "utf-8", "surrogateescape")


def read_message(sock, max_size: int = MAX_MESSAGE, deadline: float | None = None) -> bytearray:
    """One framed message's payload. ``deadline`` (time.monotonic) bounds the
    whole read, so a client trickling bytes cannot hold a thread forever."""
    size = int.from_bytes(_read_exact(sock, HEADER, deadline, allow_eof=True), "big")
    if size > max_size:
        raise ProtocolError(f"message of {size} bytes is over the {max_size}-byte limit")
    return _read_exact(sock, size, deadline)


def _read_exact(sock, size: int, deadline: float | None, allow_eof: bool = False) -> bytearray:
    """``size`` bytes into one buffer (no chunk list to join: a stats answer
    is ~200 KB)."""
    buf = bytearray(size)
    view, got = memoryview(buf), 0
    while got < size:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ReadTimeout("message not received in time")
            sock.settimeout(left)
        try:
            n = sock.recv_into(view[got:], min(size - got, 1 << 20))
        except _TIMEOUTS:
            raise ReadTimeout("message not received in time") from None
        if not n:
            if allow_eof and got == 0:
                raise EOFError("connection closed")
            raise ProtocolError(f"connection closed after {got} of {size} bytes")
        got += n
    return buf


def request_message(request: Request) -> bytes:
    pairs: list[tuple[str, bytes | str]] = [
        ("hook_point", request.hook_point), ("dry_run", "true" if request.dry_run else "false"),
        ("data", request.data)]
    pairs += [("property", f"{k}={v}") for k, v in properties_to_send(request.properties).items()]
    return message(REQUEST, pairs)


def deadline_message(deadline_s: float) -> bytes:
    """The agent's first message for a request that runs a driver."""
    return message(DEADLINE, [("seconds", repr(float(deadline_s)))])


def response_message(response: Response, debug: bool = False) -> bytes:
    pairs: list[tuple[str, bytes | str]] = [("exit_code", str(response.exit_code))]
    if debug:
        pairs.append(("debug", "true"))
    if response.data is not None:
        pairs.append(("data", response.data))
    pairs += [("message", m) for m in response.messages]
    pairs += [("action", a) for a in response.actions]
    return message(RESPONSE, pairs)


def is_property_name(name: str) -> bool:
    """An environment variable name a custom property can have:
    [A-Za-z_][A-Za-z0-9_]* of at most MAX_NAME characters."""
    return (0 < len(name) <= MAX_NAME and name.isascii() and not name[0].isdigit()
            and name.replace("_", "a").isalnum())


def properties_to_send(properties) -> dict[str, str]:
    """The environment entries that can be custom properties; the agent
    refuses any other name, and values over its size limit. A value with
    bytes that are not UTF-8 (surrogate-escaped, see encoded()) goes as
    those bytes; one no bytes encode (a lone surrogate outside
    U+DC80..U+DCFF, which no environment holds) is left out."""
    return {k: v for k, v in properties.items()
            if is_property_name(k) and len(v) <= MAX_VALUE and "\0" not in v and _encodable(v)}


def _encodable(value: str) -> bool:
    if value.isascii():
        return True
    try:
        encoded(value)
    except UnicodeEncodeError:
        return False
    return True


# --- the hook's call ------------------------------------------------------------

def call(request: Request, path: str) -> Answer | None:
    """Ask the agent at ``path``. None when nobody listens there (the request
    was not sent, so the caller may run it elsewhere); AgentError when the
    exchange failed after that."""
    from vif_driver.hook.points import HOOK_POINTS

    point = HOOK_POINTS.get(request.hook_point)
    try:
        data = request_message(request)
    except ProtocolError as e:
        raise AgentError(f"cannot ask the agent: {e}") from None
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    bound = FIRST_ANSWER
    why = ""
    try:
        sock.settimeout(FIRST_ANSWER)
        try:
            sock.connect(path)
        except (FileNotFoundError, ConnectionRefusedError):
            return None
        except PermissionError:
            raise AgentError(f"permission denied on the agent socket {path} for uid {os.geteuid()}: its group "
                             "(SocketGroup= of vif-driverd.socket) must be one of this user's groups") from None
        except OSError as e:
            raise AgentError(f"cannot connect to the agent socket {path}: {e.strerror or e}") from None
        try:
            # each wait is bounded as a whole: a hung agent (or one trickling
            # bytes) cannot hold the VM operation past it
            try:
                sock.sendall(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the agent may answer (refuse) and close before reading it all: read that answer
            kind, pairs = fields_of(read_message(sock, deadline=time.monotonic() + FIRST_ANSWER))
            if kind == DEADLINE:
                deadline_s = _deadline(pairs)
                bound = answer_bound(deadline_s)
                why = f" (its deadline of {deadline_s:g} s + {CLIENT_MARGIN:g} s)"
                kind, pairs = fields_of(read_message(sock, deadline=time.monotonic() + bound))
            if kind != RESPONSE:
                raise ProtocolError(f"a {kind.decode()} message where a response is expected")
            response = response_of(pairs)
        except EOFError:
            raise AgentError(f"the agent at {path} closed the connection without an answer "
                             "(it stopped or crashed: journalctl -u vif-driverd)") from None
        except (ReadTimeout,) + _TIMEOUTS:
            raise AgentError(f"the agent at {path} did not answer within {bound:g} s{why}; "
                             "check it: journalctl -u vif-driverd") from None
        except ProtocolError as e:
            raise AgentError(f"bad answer from the agent at {path}: {e}") from None
        except OSError as e:
            raise AgentError(f"lost the connection to the agent at {path}: {e.strerror or e} "
                             "(journalctl -u vif-driverd)") from None
    finally:
        sock.close()
    if response.exit_code and point is not None:
        # the agent answers refusals before it knows the hook point; an
        # after-hook must not stop other providers' scripts with a 2, nor
        # a teardown hook stop the VM operation at all (fail_code 0)
        response.exit_code = min(response.exit_code, point.fail_code)
    return response


def _deadline(pairs: list[tuple[str, memoryview]]) -> float:
    if len(pairs) != 1 or pairs[0][0] != "seconds":
        raise ProtocolError("a deadline message must hold exactly one seconds field")
    try:
        deadline_s = float(text(pairs[0][1], "seconds"))
    except ValueError:
        raise ProtocolError("deadline seconds is not a number") from None
    if not 0 < deadline_s <= MAX_DEADLINE:
        raise ProtocolError(f"deadline of {deadline_s:g} s is not in (0, {MAX_DEADLINE:g}]")
    return deadline_s


def response_of(pairs: list[tuple[str, memoryview]]) -> Answer:
    """The Response a ``response`` message holds, checked."""
    exit_code, debug, data = None, False, None
    messages: list[str] = []
    actions: list[str] = []
    for key, value in pairs:
        if key == "message":
            messages.append(environment_text(value))
        elif key == "action":
            actions.append(environment_text(value))
        elif key == "data" and data is None:
            if not bytes(value).isascii():  # stats and caps JSON are: no decode needed
                text(value, key)
            data = value
        elif key == "exit_code" and exit_code is None:
            raw = text(value, key)
            if not (raw.isascii() and raw.isdigit() and int(raw) <= 255):
                raise ProtocolError(f"exit_code {_shown(bytes(value))} is not 0-255")
            exit_code = int(raw)
        elif key == "debug" and not debug:
            debug = bytes(value) == b"true"
        else:
            raise ProtocolError(f"unexpected or repeated response field {key}")
    if exit_code is None:
        raise ProtocolError("response has no exit_code")
    return Answer(exit_code, data, messages, actions, debug)


class Answer(Response):
    """The agent's Response; its data stays the bytes received (``raw``)
    until read as text, so the entrypoint writes a stats answer's ~200 KB
    without decoding and re-encoding them (the agent encoded them as UTF-8).
    ``debug``: the agent's config asks for the actions to be printed."""

    __slots__ = ("raw", "_text", "debug")

    def __init__(self, exit_code: int, raw: memoryview | None, messages: list[str],
                 actions: list[str], debug: bool = False):
        super().__init__(exit_code, None, messages, actions)
        self.raw = raw
        self._text: str | None = None
        self.debug = debug

    @property
    def data(self) -> str | None:
        if self._text is None and self.raw is not None:
            self._text = text(self.raw, "data")
        return self._text

    @data.setter
    def data(self, value: str | None) -> None:
        self._text, self.raw = value, None


def _shown(value: bytes) -> str:
    return repr(value[:40] + (b"..." if len(value) > 40 else b""))

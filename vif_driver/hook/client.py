"""The agent protocol, hook side: send a Request, get a Response; and the
wire format both sides share. A message is a 4-byte big-endian length, then
that many bytes: a 4-byte big-endian envelope length, the envelope (UTF-8
JSON: a Request or Response dict whose ``data`` is the byte count of the
data, or null), then the data's UTF-8 bytes as they are. The data (device
XML, caps and stats JSON of up to megabytes) is thus never escaped into
and parsed back out of a JSON string.

One exchange per connection: the hook sends its Request; the agent answers
with the Response, and, before a request that runs a driver, first with an
announcement ``{"deadline": SECONDS}`` (no data) as soon as it has read and
validated the request. The hook reads the config of neither: it waits
FIRST_ANSWER for the first message (a hung agent is found out that fast
whatever its config), then, after an announcement, up to the announced
deadline + CLIENT_MARGIN for the Response. A Response envelope may carry
``"debug": true`` (the agent's config has debug on): the hook then prints
the actions as an in-process run with that config would.

Imported by the entrypoint on every owned call, so one module, and only
the standard library's C modules (_socket, and _json through fastjson:
json, socket, re or enum would each cost a hook 1-7 ms). Nothing here decides what to do with the
answer; vif_driver.hook.entry applies it exactly as an in-process Response.
"""

import os
import time

import _socket

from vif_driver.fastjson import dumps, loads  # noqa: F401 - the wire format's JSON
from vif_driver.hook.protocol import Response


# --- wire format ------------------------------------------------------------

HEADER = 4
MAX_MESSAGE = 4 * 1024 * 1024  # caps and stats JSON can be large
DEADLINE_FACTOR = 2  # the agent answers within 2 x [vif-driver] timeout...
CLIENT_MARGIN = 5.0  # ...and a hook waits 5 s longer than the deadline announced
FIRST_ANSWER = 5.0  # a hook waits this long for the agent's first message
MAX_DEADLINE = 2 * 3600.0  # an announcement over this is not believed (config: timeout <= 3600)


class ProtocolError(Exception):
    """A malformed, oversized or truncated message; the text is one line."""


class ReadTimeout(ProtocolError):
    """The message did not arrive in time."""


# socket timeouts: TimeoutError from Python 3.10 on, _socket.timeout (an
# OSError, not a TimeoutError) on 3.9, EL9's /usr/bin/python3
_TIMEOUTS = (TimeoutError, _socket.timeout)


def request_deadline(timeout: float) -> float:
    """Seconds the agent allows one request, from the config's timeout (the
    bound of each external call; a hook may make a few)."""
    return timeout * DEADLINE_FACTOR


def announcement(deadline_s: float) -> bytes:
    """The agent's first message for a request that runs a driver."""
    return pack({"deadline": deadline_s}, None)


def answer_bound(deadline_s: float) -> float:
    """How long a hook waits for the Response after an announcement."""
    return deadline_s + CLIENT_MARGIN


def frame(payload: bytes) -> bytes:
    if len(payload) > MAX_MESSAGE:
        raise ProtocolError(f"message of {len(payload)} bytes is over the {MAX_MESSAGE}-byte limit")
    return len(payload).to_bytes(HEADER, "big") + payload


def pack(envelope: dict, data: "str | None") -> bytes:
    """One framed message: ``envelope`` (its ``data`` replaced by the byte
    count) and ``data``'s UTF-8 bytes after it."""
    raw = b"" if data is None else data.encode("utf-8")
    head = dict(envelope, data=None if data is None else len(raw))
    text = dumps(head).encode("utf-8")
    return frame(len(text).to_bytes(HEADER, "big") + text + raw)


def unpack(payload: bytes) -> "tuple[bytes, bytes]":
    """(envelope JSON bytes, data bytes) of a message's payload."""
    if len(payload) < HEADER:
        raise ProtocolError(f"message of {len(payload)} bytes is shorter than its {HEADER}-byte envelope length")
    size = int.from_bytes(payload[:HEADER], "big")
    if size > len(payload) - HEADER:
        if payload[:1] == b"{":
            raise ProtocolError("message has no envelope length (the wire format of an older vif-driver?); "
                                "restart vif-driverd after upgrading vif-driver")
        raise ProtocolError(f"envelope of {size} bytes is longer than the {len(payload) - HEADER} bytes "
                            "after its length")
    return payload[HEADER:HEADER + size], payload[HEADER + size:]


def data_of(envelope: dict, raw: bytes) -> "str | None":
    """The data an envelope announces; ValueError unless ``raw`` is exactly
    that many bytes of UTF-8 (none for null)."""
    if not checked_data(envelope, raw, utf8=False):
        return None
    try:
        return str(raw, "utf-8")
    except UnicodeDecodeError:
        raise ValueError("data is not UTF-8") from None


def checked_data(envelope: dict, raw, utf8: bool = True) -> bool:
    """Whether there is data; ValueError unless ``raw`` is exactly the byte
    count announced (and, with ``utf8``, UTF-8: checked without keeping
    the text)."""
    count = envelope.get("data")
    if count is None:
        if raw:
            raise ValueError(f"{len(raw)} bytes of data follow an envelope whose data is null")
        return False
    if type(count) is not int:
        raise ValueError("field data must be int (the byte count of the data after the envelope)")
    if count != len(raw):
        raise ValueError(f"envelope announces {count} bytes of data, {len(raw)} follow")
    if utf8:
        try:
            str(raw, "utf-8")
        except UnicodeDecodeError:
            raise ValueError("data is not UTF-8") from None
    return True


def read_message(sock, max_size: int = MAX_MESSAGE, deadline: "float | None" = None) -> bytes:
    """One framed message's payload. ``deadline`` (time.monotonic) bounds the
    whole read, so a client trickling bytes cannot hold a thread forever."""
    size = int.from_bytes(_read_exact(sock, HEADER, deadline, allow_eof=True), "big")
    if size > max_size:
        raise ProtocolError(f"message of {size} bytes is over the {max_size}-byte limit")
    return _read_exact(sock, size, deadline)


def _read_exact(sock, size: int, deadline, allow_eof: bool = False) -> bytearray:
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


# --- limits shared by the client's filter and the agent's validation ---------

MAX_XML = 256 * 1024  # one <interface> element
MAX_PROPERTIES = 1024
MAX_NAME = 128
MAX_VALUE = 8192


def is_property_name(name: str) -> bool:
    """An environment variable name a custom property can have:
    [A-Za-z_][A-Za-z0-9_]* (checked without re, which costs a hook ~5 ms)."""
    return (0 < len(name) <= MAX_NAME and name.isascii() and not name[0].isdigit()
            and name.replace("_", "a").isalnum())


# --- the hook's call -------------------------------------------------------

class AgentError(Exception):
    """The agent was reached but gave no usable answer; one-line message."""


def properties_to_send(properties) -> "dict[str, str]":
    """The environment entries that can be custom properties; the agent
    refuses any other name, and values over its size limit."""
    return {k: v for k, v in properties.items()
            if is_property_name(k) and len(v) <= MAX_VALUE and "\0" not in v}


def call(request, path: str) -> "Response | None":
    """Ask the agent at ``path``. None when nobody listens there (the request
    was not sent, so the caller may run it elsewhere); AgentError when the
    exchange failed after that."""
    from vif_driver.hook.points import HOOK_POINTS

    point = HOOK_POINTS.get(request.hook_point)
    payload = request.to_dict()
    payload["properties"] = properties_to_send(request.properties)
    data = pack(payload, request.data)
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
            raise AgentError(f"permission denied on the agent socket {path} for uid {os.geteuid()}: "
                             "its group (SocketGroup= of vif-driverd.socket) must be one of this user's groups")
        except OSError as e:
            raise AgentError(f"cannot connect to the agent socket {path}: {e.strerror or e}")
        try:
            # each wait is bounded as a whole: a hung agent (or one trickling
            # bytes) cannot hold the VM operation past it
            try:
                sock.sendall(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the agent may answer (refuse) and close before reading it all: read that answer
            raw = read_message(sock, deadline=time.monotonic() + FIRST_ANSWER)
            deadline_s = _announced(raw, path)
            if deadline_s is not None:
                bound = answer_bound(deadline_s)
                why = f" (its deadline of {deadline_s:g} s + {CLIENT_MARGIN:g} s)"
                raw = read_message(sock, deadline=time.monotonic() + bound)
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
    response = _response(raw, path)
    if response.exit_code and point is not None:
        # the agent answers refusals before it knows the hook point; an
        # after-hook must not stop other providers' scripts with a 2, nor
        # a teardown hook stop the VM operation at all (fail_code 0)
        response.exit_code = min(response.exit_code, point.fail_code)
    return response


def _announced(raw: bytes, path: str) -> "float | None":
    """The deadline of an announcement; None for any other message (a
    Response: the agent answered at once). Announcements are a few dozen
    bytes, so longer messages are not parsed twice."""
    if len(raw) > 64:
        return None
    try:
        envelope, tail = unpack(memoryview(raw))
        d = loads(str(envelope, "utf-8"))
    except (UnicodeDecodeError, ValueError, ProtocolError) as e:
        raise AgentError(f"bad answer from the agent at {path}: {e}") from None
    if not isinstance(d, dict) or "deadline" not in d:
        return None
    deadline_s = d["deadline"]
    if (type(deadline_s) not in (int, float) or not 0 < deadline_s <= MAX_DEADLINE
            or d.get("data") is not None or tail):
        raise AgentError(f"bad answer from the agent at {path}: not a deadline announcement")
    return float(deadline_s)


def _response(raw: bytes, path: str) -> Response:
    try:
        envelope, tail = unpack(memoryview(raw))
        d = loads(str(envelope, "utf-8"))
        # an all-ASCII message (stats and caps JSON are) needs no UTF-8 check
        has_data = isinstance(d, dict) and checked_data(d, tail, utf8=not raw.isascii())
    except (UnicodeDecodeError, ValueError, ProtocolError) as e:
        raise AgentError(f"bad answer from the agent at {path}: {e}") from None
    ok = (isinstance(d, dict) and type(d.get("exit_code")) is int and 0 <= d["exit_code"] <= 255
          and all(isinstance(d.get(k), list) and all(isinstance(s, str) for s in d[k])
                  for k in ("messages", "actions")))
    if not ok:
        raise AgentError(f"bad answer from the agent at {path}: not a Response")
    return Answer(d["exit_code"], tail if has_data else None, d["messages"], d["actions"],
                  d.get("debug") is True)


class Answer(Response):
    """The agent's Response; its data stays the UTF-8 bytes received
    (``raw``, checked) until read as text, so the entrypoint writes a stats
    answer's ~200 KB without decoding and re-encoding them. ``debug``: the
    agent's config asks for the actions to be printed."""

    __slots__ = ("raw", "_text", "debug")

    def __init__(self, exit_code: int, raw, messages: "list[str]", actions: "list[str]",
                 debug: bool = False):
        super().__init__(exit_code, None, messages, actions)
        self.raw = raw
        self.debug = debug

    @property
    def data(self) -> "str | None":
        if self._text is None and self.raw is not None:
            self._text = str(self.raw, "utf-8")
        return self._text

    @data.setter
    def data(self, value: "str | None") -> None:
        self._text, self.raw = value, None

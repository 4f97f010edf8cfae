"""OVSDB remotes, errors, and a one-shot JSON-RPC call on a plain socket.

The one-shot call serves the hooks VDSM runs every few seconds (caps and
stats): importing the ovs library alone costs ~4x a bare interpreter start,
and its pure-Python JSON parser adds ~60 ms on a 1,000-row reply, while
socket + the C json module do the same read in a few ms. Writes and the
post-plug monitor use the ovs library (ovsdb.py, monitor.py).
Standard library C modules only (``_socket``, ``_json`` through
vif_driver.fastjson): ``socket`` and ``json`` would cost a stats poll ~9 ms of
imports (enum, re).
"""

import time

import _socket

from vif_driver.fastjson import dumps, raw_decode

from vif_driver.api import HostError

DB = "Open_vSwitch"
# A socket timeout: Python 3.9's socket.timeout is not yet TimeoutError.
TIMEOUTS = (_socket.timeout, TimeoutError)
_MAX_REPLY = 64 << 20


class OvsdbDown(HostError):
    """Nothing answers at the remote: Open vSwitch is stopped or unreachable."""


class OvsdbTimeout(HostError):
    """ovsdb-server took the connection but did not answer in time (hung)."""


class OvsdbError(HostError):
    """ovsdb-server answered with an error."""


def down(remote: str, reason: str) -> OvsdbDown:
    from vif_driver.drivers.ovs.remote import start_hint
    return OvsdbDown(f"Open vSwitch is down at {remote} ({reason}); {start_hint()}, "
                     "or fix ovsdb in [driver:ovs]")


def hung(remote: str, timeout: float) -> OvsdbTimeout:
    return OvsdbTimeout(f"ovsdb-server at {remote} did not answer within {timeout:g} s; "
                        "check `ovs-appctl -t ovsdb-server version`, or raise [vif-driver] timeout")


def failed(remote: str, error) -> OvsdbError:
    text = error.get("error", "") + (": " + error["details"] if error.get("details") else "") \
        if isinstance(error, dict) else str(error)
    return OvsdbError(f"ovsdb-server at {remote} refused the request: {' '.join(text.split())}")


def results(remote: str, reply_error, result, n_ops: int) -> list:
    """The per-operation results of a transact reply, or the error raised."""
    if reply_error is not None:
        raise failed(remote, reply_error)
    if not isinstance(result, list):
        raise failed(remote, f"unexpected reply {str(result)[:80]}")
    for item in result:
        if isinstance(item, dict) and item.get("error"):
            raise failed(remote, item)
    if len(result) < n_ops:
        raise failed(remote, "fewer results than operations")
    return result


def transact(remote: str, ops: list, timeout: float) -> list:
    """Run one transaction on a fresh connection."""
    reply = call(remote, "transact", [DB] + ops, timeout)
    return results(remote, reply.get("error"), reply.get("result"), len(ops))


def monitor_once(remote: str, table: str, columns: "list[str]", timeout: float) -> "list[dict]":
    """Every row of ``table`` (only ``columns``) from the initial answer of a
    monitor; the connection is closed right after. ovsdb-server serves a
    monitor's rows faster than the same select (measured: 1,000 Interface
    rows 14 ms against 22 ms)."""
    reply = call(remote, "monitor", [DB, None, {table: {"columns": columns}}], timeout)
    if reply.get("error") is not None:
        raise failed(remote, reply["error"])
    updates = reply.get("result")
    if not isinstance(updates, dict):
        raise failed(remote, f"unexpected monitor reply {str(updates)[:80]}")
    return [change["new"] for change in updates.get(table, {}).values() if change.get("new")]


def call(remote: str, method: str, params: list, timeout: float) -> dict:
    """Send one request on a fresh connection and return its reply; every
    step bounded by ``timeout`` seconds in all."""
    deadline = time.monotonic() + timeout
    sock = _connect(remote, timeout)
    try:
        try:
            sock.sendall(dumps({"method": method, "params": params, "id": 0}).encode("utf-8"))
        except TIMEOUTS:
            raise hung(remote, timeout)
        except OSError as e:
            raise down(remote, e.strerror or str(e))
        return _reply(sock, 0, deadline, remote, timeout)
    finally:
        sock.close()


def _connect(remote: str, timeout: float):
    kind, _, rest = remote.partition(":")
    try:
        if kind == "unix":
            return _connected(_socket.AF_UNIX, rest, timeout)
        host, _, port = rest.rpartition(":")
        error = OSError(f"no address for {host}")
        for family, _type, _proto, _name, address in _socket.getaddrinfo(
                host.strip("[]"), int(port), 0, _socket.SOCK_STREAM):
            try:
                return _connected(family, address, timeout)
            except TIMEOUTS:
                raise
            except OSError as e:
                error = e
        raise error
    except TIMEOUTS:
        raise hung(remote, timeout)
    except OSError as e:
        raise down(remote, e.strerror or str(e))


def _connected(family: int, address, timeout: float):
    sock = _socket.socket(family, _socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(address)
    except BaseException:
        sock.close()
        raise
    return sock


def _reply(sock, request_id, deadline, remote, timeout) -> dict:
    """Read messages until the reply to ``request_id``; answers echo.

    A reply of 1,000 rows takes ~10 ms to decode, so a decode is tried only
    when the data can be complete: it ends like ovsdb-server's replies
    (``"error":null}``), or ends with ``}`` and nothing more is pending."""
    buf = b""
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise hung(remote, timeout)
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(1 << 20)
        except TIMEOUTS:
            raise hung(remote, timeout)
        except OSError as e:
            raise down(remote, e.strerror or str(e))
        if not chunk:
            raise down(remote, "connection closed by ovsdb-server")
        buf += chunk
        if len(buf) > _MAX_REPLY:
            raise failed(remote, f"reply larger than {_MAX_REPLY >> 20} MiB")
        while buf.endswith(b'"error":null}') or (buf.rstrip().endswith(b"}") and not _pending(sock)):
            text = buf.decode("utf-8").lstrip()
            try:
                msg, end = _first(text)
            except ValueError:
                break
            buf = text[end:].encode("utf-8")
            if msg.get("id") == request_id and ("result" in msg or "error" in msg):
                return msg
            if msg.get("method") == "echo":
                sock.sendall(dumps({"id": msg.get("id"), "result": msg.get("params"),
                                    "error": None}).encode("utf-8"))


def _pending(sock) -> bool:
    try:
        return bool(sock.recv(1, _socket.MSG_PEEK | _socket.MSG_DONTWAIT))
    except BlockingIOError:
        return False
    except OSError:
        return False


def _first(text: str):
    """(the first JSON value of ``text``, where it ends); ValueError while
    it is incomplete."""
    return raw_decode(text)

"""json.dumps / json.loads results without importing json.

`import json` costs a process ~0.8x an interpreter start (it pulls in re and
enum); the hooks and the agent's wire format use its C accelerator, _json,
directly. Bad input is handed to the json module itself, so error messages
are json's (ValueError, never SystemError: see _call).

Only the agent's wire format (vif_driver.hook.client) and the OVSDB wire
still use this; the hooks' caps and stats JSON goes through json itself
(vif_driver.core.dispatch.load_json). A later change removes this module.
"""

try:
    import _json
except ImportError:  # not CPython: the pure-Python module does the same
    _json = None

_encoder = None


def dumps(obj) -> str:
    """json.dumps(obj), with the C encoder."""
    global _encoder
    if _json is None:
        import json
        return json.dumps(obj)
    if _encoder is None:
        _encoder = _json.make_encoder({}, _not_serializable, _json.encode_basestring_ascii, None,
                                      ": ", ", ", False, False, True)
    return "".join(_encoder(obj, 0))


def _not_serializable(obj):
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


class _Context:
    """What _json.make_scanner reads from json.JSONDecoder."""
    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    memo = None

    @staticmethod
    def parse_constant(name):
        raise ValueError(f"JSON constant {name} is not allowed")


class _Lenient(_Context):
    """json.loads' defaults: NaN and Infinity allowed."""
    parse_constant = {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}.__getitem__


_scanner = None
_lenient = None


def loads(text: str):
    """Parse JSON text; ValueError if it is not exactly one JSON value
    (NaN and Infinity refused)."""
    global _scanner
    if _json is None:
        import json
        return json.loads(text, parse_constant=_Context.parse_constant)
    if _scanner is None:
        _scanner = _json.make_scanner(_Context())
    return _scan(_scanner, text)


def parse(text: str):
    """json.loads(text): the same value, or the same error (bad input is
    handed to the json module for its message)."""
    global _lenient
    if _json is not None:
        if _lenient is None:
            _lenient = _json.make_scanner(_Lenient())
        try:
            return _scan(_lenient, text)
        except ValueError:
            pass
    import json
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


def _call(scanner, text: str, start: int):
    """scanner(text, start). _json raises its JSONDecodeError only when
    json.decoder is already imported; before that, bad input makes the
    scanner fail with SystemError ("returned NULL without setting an
    exception"). Then import it (the error path only) and scan again."""
    try:
        return scanner(text, start)
    except SystemError:
        import json.decoder  # noqa: F401 - what _json's error path looks up
        return scanner(text, start)


def _scan(scanner, text: str):
    start = _skip_space(text, 0)
    try:
        value, end = _call(scanner, text, start)
    except StopIteration as e:
        import json
        raise json.JSONDecodeError("Expecting value", text, e.value if isinstance(e.value, int) else start) from None
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
    if _skip_space(text, end) != len(text):
        import json
        raise json.JSONDecodeError("Extra data", text, end)
    return value


def _skip_space(text: str, i: int) -> int:
    n = len(text)
    while i < n and text[i] in " \t\n\r":
        i += 1
    return i


_raw_scanner = None


def raw_decode(text: str, start: int = 0):
    """(the first JSON value of ``text`` at ``start``, where it ends), like
    JSONDecoder.raw_decode; ValueError while the value is incomplete."""
    global _raw_scanner
    if _json is None:
        import json
        return json.JSONDecoder().raw_decode(text, start)
    if _raw_scanner is None:
        _raw_scanner = _json.make_scanner(_Lenient())
    try:
        return _call(_raw_scanner, text, start)
    except StopIteration:
        raise ValueError("incomplete JSON") from None

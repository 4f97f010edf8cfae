"""Grammar checks for every value that reaches OVS, netlink or a path.

Parsers return the value or raise ValueError with a message saying what is
expected; the framework adds the field name. Drivers use them as
``Option(parse=...)``.
"""

_ALNUM = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
_WORD = _ALNUM | frozenset("_.-")
_HEX = frozenset("0123456789abcdefABCDEF")
_HOST = _WORD | frozenset(":[]")
_PATH = _WORD | frozenset("~/")


def _is_word(value: str, longest: int) -> bool:
    """1..longest of [A-Za-z0-9_.-], starting with a letter or digit.

    Character sets rather than regular expressions: importing re costs a
    hook about half an interpreter start, and these grammars are this simple.
    """
    return (isinstance(value, str) and 0 < len(value) <= longest and value[0] in _ALNUM
            and _WORD.issuperset(value))

MAX_PROPERTY_LENGTH = 1024


def vnic_id(value: str) -> str:
    if not _is_word(value, 64):
        raise ValueError(f"{_shown(value)} is not a port id (1-64 letters, digits, '-', '_' or '.')")
    return value


def uuid(value: str) -> str:
    parts = value.split("-")
    if [len(p) for p in parts] != [8, 4, 4, 4, 12] or not _HEX.issuperset(value.replace("-", "")):
        raise ValueError(f"{_shown(value)} is not a UUID")
    return value


def ifname(value: str) -> str:
    """A Linux interface / OVS bridge name."""
    if len(value) > 15:
        raise ValueError(f"{_shown(value)} is longer than the kernel's 15-character limit for interface names")
    if not _is_word(value, 15):  # the kernel's dev_valid_name, narrowed to what is safe everywhere
        raise ValueError(f"{_shown(value)} is not an interface name (letters, digits, '-', '_' or '.')")
    return value


def name(value: str) -> str:
    """A short identifier such as a physical network name."""
    if not _is_word(value, 64):
        raise ValueError(f"{_shown(value)} is not a name (1-64 letters, digits, '-', '_' or '.')")
    return value


def mappings(value: str, target: str, example: str) -> "dict[str, str]":
    """'physnet1:X,physnet2:Y' -> {'physnet1': 'X', ...} (the form Neutron and
    OVN use), each X an interface or bridge name. A target serves one
    physical network only: two would share (or fight over) its traffic."""
    result: "dict[str, str]" = {}
    owner: "dict[str, str]" = {}
    for part in (p.strip() for p in value.split(",")):
        if not part:
            continue
        physnet, sep, device = (word.strip() for word in part.partition(":"))
        if not sep:
            raise ValueError(f"{part!r} is not PHYSNET:{target.upper()} (e.g. {example})")
        try:
            name(physnet)
            ifname(device)
        except ValueError as e:
            raise ValueError(f"{physnet}: {e}") from None
        if physnet in result:
            raise ValueError(f"physical network {physnet!r} is mapped twice")
        if device in owner:
            raise ValueError(f"{target} {device!r} is mapped to both {owner[device]!r} and {physnet!r}: "
                             "one per physical network")
        result[physnet] = device
        owner[device] = physnet
    return result


def integer(low: int, high: int):
    """A parser for integers in [low, high]."""
    def parse(value: str) -> int:
        try:
            number = int(value.strip(), 10)
        except ValueError:
            number = None
        if number is None or not low <= number <= high:
            raise ValueError(f"{_shown(value)} is not an integer between {low} and {high}")
        return number
    return parse


def optional(parse):
    """A parser that maps an empty string to None (option unset)."""
    def parse_optional(value: str):
        return parse(value) if value.strip() else None
    return parse_optional


def seconds(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if not 0 < number <= 3600:
        raise ValueError(f"{_shown(value)} is not a number of seconds between 0 and 3600")
    return number


def boolean(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("1", "yes", "true", "on"):
        return True
    if lowered in ("0", "no", "false", "off"):
        return False
    raise ValueError(f"{_shown(value)} is not true or false")


def mtu(value: str) -> int:
    return integer(68, 65535)(value)


def shown(value: str) -> str:
    """The value quoted for a message, cut so a hostile one stays one line."""
    text = value if len(value) <= 40 else value[:40] + "..."
    return repr(text)


_shown = shown


def url(value: str) -> str:
    """An http(s) URL without credentials, query or fragment."""
    scheme, sep, rest = value.partition("://")
    host, _, path = rest.partition("/")
    if not (scheme in ("http", "https") and sep and host and _HOST.issuperset(host)
            and _PATH.issuperset(path) and len(value) <= 1024):
        raise ValueError(f"{_shown(value)} is not an http:// or https:// URL (host[:port][/path])")
    return value


def absolute_path(value: str) -> str:
    if not value.startswith("/") or "\0" in value or "/../" in value + "/":
        raise ValueError(f"{_shown(value)} is not an absolute path")
    return value

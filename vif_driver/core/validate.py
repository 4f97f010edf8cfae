"""The grammar of every value that reaches OVS, netlink, a path or the
provider's database: each name defined once, here, and used by the hooks,
the drivers, the agent and the provider alike.

Parsers return the value or raise ValueError with a message saying what is
expected; the caller adds the field name. Drivers use them as
``Option(parse=...)``. Every pattern is matched against the whole string
(``re.fullmatch``): ``re.match`` with ``$`` lets a trailing newline through.
"""

from __future__ import annotations

import re

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing would cost a hook process ~4 ms
    from typing import Callable

MAX_PROPERTY_LENGTH = 1024
IFNAME_LENGTH = 15  # the kernel's IFNAMSIZ - 1, also what OVS accepts for a bridge
VLAN_RANGE = (1, 4094)  # an 802.1Q id
MTU_RANGE = (68, 65535)
MAX_SECONDS = 3600

# What each name may be. Kept narrower than the kernel or OVS allow, to what
# is safe everywhere: on a command line (no leading '-'), in a path (no '/'),
# in an OVSDB condition, in a log line.
WORD = r"[A-Za-z0-9][A-Za-z0-9_.-]"
IFNAME = re.compile(WORD + f"{{0,{IFNAME_LENGTH - 1}}}")  # interface, device or bridge name
NAME = re.compile(WORD + "{0,63}")  # physical network, namespace, other identifiers
VNIC_ID = NAME  # the engine's vnic_id custom property: a provider's port id
TOKEN = re.compile(r"[A-Za-z0-9_]{1,64}")  # plugin_type, provider_type
UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
MAC = re.compile(r"[0-9a-fA-F]{2}([:-])[0-9a-fA-F]{2}(?:\1[0-9a-fA-F]{2}){4}")
HOST = re.compile(r"\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9][A-Za-z0-9.-]{0,252}")  # a DNS name, IPv4 or [IPv6]
_DIGITS = re.compile(r"[+-]?[0-9]+")
_URL_HOST = re.compile(r"[A-Za-z0-9_.:\[\]-]+")
_URL_PATH = re.compile(r"[A-Za-z0-9_.~/-]*")


def shown(value: object) -> str:
    """The value quoted for a message, cut so a hostile one stays one line."""
    text = value if isinstance(value, str) else str(value)
    return repr(text if len(text) <= 40 else text[:40] + "...")


_shown = shown


def matches(pattern: re.Pattern, value: object) -> bool:
    """Whether ``value`` is a string the pattern matches as a whole."""
    return isinstance(value, str) and pattern.fullmatch(value) is not None


def vnic_id(value: str) -> str:
    if not matches(VNIC_ID, value):
        raise ValueError(f"{_shown(value)} is not a port id (1-64 letters, digits, '-', '_' or '.')")
    return value


def uuid(value: str) -> str:
    if not matches(UUID, value):
        raise ValueError(f"{_shown(value)} is not a UUID")
    return value


def ifname(value: str) -> str:
    """A Linux interface or device name, an OVS or Linux bridge name."""
    if isinstance(value, str) and len(value) > IFNAME_LENGTH:
        raise ValueError(f"{_shown(value)} is longer than the kernel's {IFNAME_LENGTH}-character limit "
                         "for interface names")
    if not matches(IFNAME, value):  # the kernel's dev_valid_name, narrowed to what is safe everywhere
        raise ValueError(f"{_shown(value)} is not an interface name (letters, digits, '-', '_' or '.', "
                         "starting with a letter or digit)")
    return value


bridge = ifname


def name(value: str) -> str:
    """A short identifier such as a physical network name."""
    if not matches(NAME, value):
        raise ValueError(f"{_shown(value)} is not a name (1-64 letters, digits, '-', '_' or '.', "
                         "starting with a letter or digit)")
    return value


physnet = name


def token(value: str) -> str:
    """A plugin_type or provider_type."""
    if not matches(TOKEN, value):
        raise ValueError(f"{_shown(value)} is not 1-64 letters, digits or '_'")
    return value


def mac(value: str) -> str:
    """A unicast MAC address, in its canonical lower-case colon form
    (``-`` separators accepted on input)."""
    if not matches(MAC, value):
        raise ValueError(f"{_shown(value)} is not a MAC address (six pairs of hex digits joined by ':')")
    canonical = value.lower().replace("-", ":")
    if canonical == "00:00:00:00:00:00" or int(canonical[:2], 16) & 1:
        raise ValueError(f"{_shown(value)} is not a unicast MAC address (zero, multicast or broadcast)")
    return canonical


def mappings(value: str, target: str, example: str) -> dict[str, str]:
    """'physnet1:X,physnet2:Y' -> {'physnet1': 'X', ...} (the form Neutron and
    OVN use), each X an interface or bridge name. A target serves one
    physical network only: two would share (or fight over) its traffic."""
    result: dict[str, str] = {}
    owner: dict[str, str] = {}
    for part in (p.strip() for p in value.split(",")):
        if not part:
            continue
        net, sep, device = (word.strip() for word in part.partition(":"))
        if not sep:
            raise ValueError(f"{part!r} is not PHYSNET:{target.upper()} (e.g. {example})")
        try:
            name(net)
            ifname(device)
        except ValueError as e:
            raise ValueError(f"{net}: {e}") from None
        if net in result:
            raise ValueError(f"physical network {net!r} is mapped twice")
        if device in owner:
            raise ValueError(f"{target} {device!r} is mapped to both {owner[device]!r} and {net!r}: "
                             "one per physical network")
        result[net] = device
        owner[device] = net
    return result


def integer(low: int, high: int) -> Callable[[str], int]:
    """A parser for decimal integers in [low, high] (surrounding blanks ignored)."""
    def parse(value: str) -> int:
        text = value.strip() if isinstance(value, str) else ""
        number = int(text) if _DIGITS.fullmatch(text) else None
        if number is None or not low <= number <= high:
            raise ValueError(f"{_shown(value)} is not an integer between {low} and {high}")
        return number
    return parse


_vlan = integer(*VLAN_RANGE)
_mtu = integer(*MTU_RANGE)


def vlan(value: str) -> int:
    """An 802.1Q VLAN id: a vlan network's segmentation id, a port tag."""
    return _vlan(value)


def mtu(value: str) -> int:
    return _mtu(value)


def optional(parse: Callable[[str], object]) -> Callable[[str], object]:
    """A parser that maps an empty string to None (option unset)."""
    def parse_optional(value: str):
        return parse(value) if value.strip() else None
    parse_optional.optional_of = parse  # type: ignore[attr-defined]  # what api.check_options reads
    return parse_optional


def seconds(value: str) -> float:
    """A timeout: a number of seconds in (0, 3600]."""
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if not 0 < number <= MAX_SECONDS:  # nan and inf fail too
        raise ValueError(f"{_shown(value)} is not a number of seconds between 0 and {MAX_SECONDS}")
    return number


def boolean(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("1", "yes", "true", "on"):
        return True
    if lowered in ("0", "no", "false", "off"):
        return False
    raise ValueError(f"{_shown(value)} is not true or false")


def url(value: str) -> str:
    """An http(s) URL without credentials, query or fragment."""
    scheme, sep, rest = value.partition("://")
    host, _, path = rest.partition("/")
    if not (scheme in ("http", "https") and sep and matches(_URL_HOST, host)
            and matches(_URL_PATH, path) and len(value) <= 1024):
        raise ValueError(f"{_shown(value)} is not an http:// or https:// URL (host[:port][/path])")
    return value


def absolute_path(value: str) -> str:
    if not value.startswith("/") or "\0" in value or "\n" in value or "/../" in value + "/":
        raise ValueError(f"{_shown(value)} is not an absolute path")
    return value

"""The ``ovsdb`` option: where ovsdb-server listens, and how to start it.
Standard library only."""

import os

DEFAULT_REMOTE = "unix:/run/openvswitch/db.sock"


def parse_remote(value: str) -> str:
    """The ``ovsdb`` option: unix:/absolute/path or tcp:HOST:PORT
    (HOST a name, an IPv4 address or [IPv6])."""
    shown = repr(value if len(value) <= 60 else value[:60] + "...")
    kind, _, rest = value.partition(":")
    if kind == "unix":
        if not rest.startswith("/") or len(rest) > 107 or not rest.isprintable() or "/../" in rest + "/":
            raise ValueError(f"{shown} is not unix:/absolute/path (at most 107 characters)")
        return value
    if kind == "tcp":
        host, sep, port = rest.rpartition(":")
        from vif_driver.core import validate
        if sep and validate.matches(validate.HOST, host) and port.isdigit() and 0 < int(port) < 65536:
            return value
        raise ValueError(f"{shown} is not tcp:HOST:PORT")
    if kind == "ssl":
        raise ValueError(f"{shown}: ssl: remotes need certificate options this driver does not have yet; "
                         "use unix:/path (default " + DEFAULT_REMOTE + ") or tcp:HOST:PORT")
    raise ValueError(f"{shown} is not an OVSDB remote: expected unix:/path or tcp:HOST:PORT")


OVS_UNITS = ("openvswitch-switch.service", "openvswitch.service")  # Debian/Ubuntu; EL/Fedora
UNIT_DIRS = ("/usr/lib/systemd/system", "/lib/systemd/system", "/etc/systemd/system")


def start_hint(unit_dirs=UNIT_DIRS) -> str:
    """`systemctl start UNIT` with this host's Open vSwitch unit (Debian's
    is openvswitch-switch, EL's openvswitch); both named when neither
    unit file is found."""
    for unit in OVS_UNITS:
        if any(os.path.exists(os.path.join(directory, unit)) for directory in unit_dirs):
            return "systemctl start " + unit[:-len(".service")]
    return "systemctl start openvswitch (EL) or openvswitch-switch (Debian)"

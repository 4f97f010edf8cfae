"""External vNIC counters, in VDSM's per-device shape.

Which devices: one OVSDB read of every Interface's name and link state (the
initial rows of a monitor); the vNICs among them are the taps named as our
plug rewrite names them. Their counters: the kernel's, from /proc/net/dev in
one read — what libvirt and VDSM read for VM NICs. Measured on 1,000 ports:
OVS's own `statistics` maps cost ~30 ms of ovsdb-server time and JSON per
poll, a select filtering on external_ids ~14 ms, names alone ~3 ms.

VDSM's entries of ``stats['network'][dev]`` (lib/vdsm/network/netstats.py)
hold name, rx, tx (bytes), rxDropped, txDropped, rxErrors, txErrors and
speed (Mbit/s) as strings, state ('up'/'down'), duplex and sampleTime.
Standard library only.
"""

import time

from vif_driver.core.naming import TAP_PREFIX

COLUMNS = ["name", "link_state"]  # of every Interface row, per stats poll
TAP_LENGTH = len(TAP_PREFIX) + 11
SPEED = "1000"  # Mbit/s; what VDSM reports for devices without a known speed


def kernel_counters(path: str = "/proc/net/dev") -> "dict[str, list[str]]":
    """name -> the 16 counters of /proc/net/dev (rx: bytes packets errs drop
    fifo frame compressed multicast; tx: bytes packets errs drop fifo colls
    carrier compressed), as strings. Device names cannot hold ':' or
    blanks, so the whole table splits into 17 words per device at once
    (slicing, no per-line Python: ~5x faster on 1,000 devices)."""
    with open(path, encoding="ascii") as f:
        text = f.read()
    body = text.split("\n", 2)[2] if text.count("\n", 0, 400) >= 2 else ""
    words = body.replace(":", " ", body.count(":")).split()
    lines = body.count("\n") + (not body.endswith("\n") and bool(body))
    if len(words) != 17 * lines or body.count(":") != lines:
        return _by_line(body)
    columns = [words[i::17] for i in range(1, 17)]
    return dict(zip(words[0::17], map(list, zip(*columns))))


def _by_line(body: str) -> "dict[str, list[str]]":
    counters = {}
    for line in body.splitlines():
        name, _, values = line.partition(":")
        counters[name.strip()] = values.split()
    return counters


def read_counters(netns: "str | None") -> "dict[str, list[str]]":
    """kernel_counters of the host, or of the named network namespace."""
    if not netns:
        return kernel_counters()
    from vif_driver.core.netns import call_in
    return call_in(netns, kernel_counters, "/proc/thread-self/net/dev")


def is_vnic(name) -> bool:
    """Whether an Interface name is a tap our plug rewrite names."""
    return isinstance(name, str) and len(name) == TAP_LENGTH and name.startswith(TAP_PREFIX)


def missing(counters: "dict[str, list[str]]", rows: "list[dict]") -> "set[str]":
    """The vNICs of ``rows`` that ``counters`` do not hold."""
    return {row["name"] for row in rows if is_vnic(row.get("name")) and row["name"] not in counters}


def add(stats: dict, rows: "list[dict]", counters: "dict[str, list[str]]",
        now: "float | None" = None) -> int:
    """Put the counters of every external vNIC among ``rows`` into
    stats['network'] in one pass; returns how many. A vNIC of this driver
    is a tap named as our plug rewrite names it; one the kernel does not
    show is skipped. VDSM's entry of a device is updated in place (its
    other fields and their order kept); a device it has no entry for is
    added after its own, with speed and duplex as VDSM gives unknown ones."""
    network = stats.setdefault("network", {})
    sample_time = time.time() if now is None else now
    found = 0
    for row in rows:
        name = row.get("name")
        if not is_vnic(name):
            continue
        values = counters.get(name)
        if values is None or len(values) < 16:
            continue
        entry = network.get(name)
        if not isinstance(entry, dict):
            entry = network[name] = {"speed": SPEED, "duplex": "unknown"}
        entry["name"], entry["rx"], entry["rxErrors"], entry["rxDropped"] = name, values[0], values[2], values[3]
        entry["tx"], entry["txErrors"], entry["txDropped"] = values[8], values[10], values[11]
        entry["sampleTime"] = sample_time
        entry["state"] = "up" if row.get("link_state") == "up" else "down"
        found += 1
    return found

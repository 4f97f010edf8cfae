"""External vNIC counters from OVSDB rows, in VDSM's per-device shape.

VDSM's own entries of ``stats['network'][dev]`` (lib/vdsm/network/netstats.py)
hold name, rx, tx (bytes), rxDropped, txDropped, rxErrors, txErrors and
speed (Mbit/s, 1000 when unknown) as strings, state ('up'/'down'), duplex
and sampleTime (seconds since the epoch). Standard library only.
"""

import time

COLUMNS = ["name", "external_ids", "statistics", "link_state", "link_speed"]
_COUNTERS = (("rx", "rx_bytes"), ("tx", "tx_bytes"), ("rxDropped", "rx_dropped"),
             ("txDropped", "tx_dropped"), ("rxErrors", "rx_errors"), ("txErrors", "tx_errors"))


def add(stats: dict, rows: "list[dict]", now: "float | None" = None) -> int:
    """Put the counters of every external vNIC among ``rows`` (Interface rows
    with COLUMNS) into stats['network']; returns how many.

    An external vNIC of this driver is a tap named the way our plug rewrite
    names it after the iface-id libvirt set; other providers' ports and the
    host's own are left to others. (Decoded by hand: this loop runs over
    every port of the host on every stats poll.)"""
    network = stats.setdefault("network", {})
    sample_time = time.time() if now is None else now
    count = 0
    for row in rows:
        name = row.get("name")
        if not isinstance(name, str) or not name.startswith("tap"):
            continue
        iface_id = _pairs(row.get("external_ids")).get("iface-id")
        if not isinstance(iface_id, str) or name != "tap" + iface_id[:11]:
            continue
        counters = _pairs(row.get("statistics"))
        entry = network.get(name)
        if not isinstance(entry, dict):
            entry = network[name] = {"duplex": "unknown"}
        entry["name"] = name
        for key, ovs_key in _COUNTERS:
            entry[key] = str(counters.get(ovs_key, 0))
        speed = row.get("link_speed")
        entry["speed"] = str(speed // 1000000 if isinstance(speed, int) and speed >= 1000000 else 1000)
        entry["state"] = "up" if row.get("link_state") == "up" else "down"
        entry["sampleTime"] = sample_time
        count += 1
    return count


def _pairs(value) -> dict:
    """A map column of strings or integers (no uuids) as a dict."""
    if isinstance(value, list) and len(value) == 2 and value[0] == "map":
        return dict(value[1])
    return {}

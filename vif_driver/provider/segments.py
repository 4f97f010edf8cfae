"""Network types on the SQLite backend: what it can make real, the local
tag it allocates, and the ``binding:vif_details`` a driver reads.

Why here and not in validation.py: validation checks a request against
Neutron's rules; this module knows what *this backend* can deliver with
plain Open vSwitch and no controller. vlan and flat are switched by the
hosts' physnet bridges (bridge_mappings), local networks by a tag on each
host's integration bridge that the provider allocates once per network.
Tunnel types need a controller programming tunnels (OVN): refused here.

The local tag lives in a table of its own (created on open like the rest
of the schema) so existing databases need no migration; a local network
made before this table existed gets its tag when the provider opens the
database (upgrade()).
"""

from __future__ import annotations

import sqlite3
from typing import Any, Callable

from vif_driver.core import validate

from .errors import Conflict, InvalidInput

TUNNEL_TYPES = ("vxlan", "geneve", "gre")
LOCAL_TAGS = validate.VLAN_RANGE  # an 802.1Q id: the driver applies it as the port's vlan tag

SCHEMA = """
CREATE TABLE IF NOT EXISTS local_tags (
    network_id TEXT PRIMARY KEY REFERENCES networks(id) ON DELETE CASCADE,
    tag INTEGER NOT NULL UNIQUE);
"""


def check_backend(net: dict) -> None:
    """Refuse what the SQLite backend cannot make real on a host."""
    ntype = net.get("provider:network_type")
    if ntype in TUNNEL_TYPES:
        raise InvalidInput(f"provider:network_type {ntype} needs a controller programming tunnels: it needs "
                           "the OVN backend (serve --backend ovn --ovn-nb ...); use vlan, flat or local here.")


def ensure_local_tag(q: Callable[..., sqlite3.Cursor], net_id: str, ntype: str) -> int | None:
    """The local tag of a local network, allocated (lowest free) if it has
    none; a network of another type holds none (dropped on a type change).
    Runs inside the caller's write transaction, so two creates cannot pick
    the same tag (the UNIQUE index is the last line of defence)."""
    if ntype != "local":
        q("DELETE FROM local_tags WHERE network_id = ?", (net_id,))
        return None
    row = q("SELECT tag FROM local_tags WHERE network_id = ?", (net_id,)).fetchone()
    if row is not None:
        return int(row[0])
    lo, hi = LOCAL_TAGS
    free = q("SELECT MIN(t.tag + 1) FROM local_tags t WHERE t.tag + 1 <= ? AND NOT EXISTS "
             "(SELECT 1 FROM local_tags u WHERE u.tag = t.tag + 1)", (hi,)).fetchone()[0]
    if not q("SELECT 1 FROM local_tags WHERE tag = ?", (lo,)).fetchone():
        free = lo
    if free is None:
        raise Conflict(f"Unable to create the network: all {hi - lo + 1} local tags are in use; delete an "
                       "unused local network.", type="NoNetworkAvailable")
    q("INSERT INTO local_tags (network_id, tag) VALUES (?, ?)", (net_id, free))
    return int(free)


DETAILS_VERSION = "2"  # binding:vif_details with network_type, its segment or local tag, strings only


def upgrade(q: Callable[..., sqlite3.Cursor]) -> None:
    """On open, in the caller's write transaction: a tag for every local
    network made before local tags existed, and the stored port documents
    (store.py's ``doc``) of an older vif_details shape marked for
    re-rendering (NULL)."""
    for (net_id,) in q("SELECT id FROM networks WHERE network_type = 'local' AND id NOT IN "
                       "(SELECT network_id FROM local_tags)").fetchall():
        ensure_local_tag(q, net_id, "local")
        q("UPDATE ports SET doc = NULL WHERE network_id = ?", (net_id,))
    row = q("SELECT value FROM meta WHERE key = 'vif_details'").fetchone()
    if row is None or row[0] != DETAILS_VERSION:
        q("UPDATE ports SET doc = NULL")
        q("INSERT OR REPLACE INTO meta VALUES ('vif_details', ?)", (DETAILS_VERSION,))


def local_tag(q: Callable[..., sqlite3.Cursor], net_id: str) -> int | None:
    row = q("SELECT tag FROM local_tags WHERE network_id = ?", (net_id,)).fetchone()
    return None if row is None else int(row[0])


def vif_details(row: Any, default_bridge: str, port_filter: bool, controller: str | None = None) -> dict[str, str]:
    """A port's binding:vif_details: a flat map of strings (the engine
    parses it as Map<String,String>). ``row`` has the network's columns
    under net_bridge, net_type, net_physnet, net_segment and net_tag.
    ``controller`` "ovn": OVN carries every network (the OVN backend), so
    the host's driver only plugs the vNIC into the integration bridge."""
    details = {"bridge_name": row["net_bridge"] or default_bridge,
               "port_filter": "true" if port_filter else "false",
               "connectivity": "l2",
               "network_type": row["net_type"] or "local"}
    if row["net_physnet"]:
        details["physical_network"] = str(row["net_physnet"])
    if row["net_segment"] is not None:
        details["segmentation_id"] = str(row["net_segment"])
    if row["net_tag"] is not None:
        details["local_tag"] = str(row["net_tag"])
    if controller:
        details["controller"] = controller
    return details

"""Objects the provider accepts (as Neutron does) that break the oVirt engine.

The engine binds the provider's answers to Java types (woorea
openstack-java-sdk, see /work/shared/engine-calls.md, "Engine-side
hazards"): ``Subnet.host_routes`` is a ``List<String>``, a port's
``binding:profile`` a ``Map<String,String>`` and
``provider:segmentation_id`` an ``Integer``.  A subnet with host routes, a
nested profile or a segmentation id above 2^31-1 is valid Neutron, so it is
stored, but one such object makes the engine fail to parse a whole list:
the administrator gets one warning line per offending object saying what
the engine will do, instead of finding out from failing VM starts.
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)

JAVA_INT_MAX = 2**31 - 1


def engine_hazards(resource: str, item: dict) -> list[str]:
    """What in ``item`` (as stored) the engine cannot parse, one line each."""
    found = []
    if resource == "subnet" and item.get("host_routes"):
        found.append("host_routes are set: the oVirt engine reads "
                     "host_routes as a list of strings, so its GET /subnets "
                     "fails for every network of this provider")
    if resource == "port":
        profile = item.get("binding:profile") or {}
        nested = sorted(k for k, v in profile.items()
                        if isinstance(v, (dict, list)))
        if nested:
            found.append(f"binding:profile {', '.join(nested)} is not a "
                         "string: the oVirt engine reads the profile as a "
                         "map of strings, so its port lookup (every VM start "
                         "and NIC change on this provider) fails")
    if resource == "network":
        seg = item.get("provider:segmentation_id")
        if isinstance(seg, int) and seg > JAVA_INT_MAX:
            found.append(f"provider:segmentation_id {seg} is above "
                         f"{JAVA_INT_MAX}: the oVirt engine reads it as a "
                         "Java int, so its GET /networks fails for this "
                         "provider")
    return found


def warn(resource: str, item: dict) -> None:
    """One warning line per hazard of a created or updated object."""
    for hazard in engine_hazards(resource, item):
        log.warning("%s %s accepted, but %s", resource, item.get("id"),
                    hazard)

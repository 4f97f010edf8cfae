"""A driver for the agent's tests whose calls take a set time: deadlines,
per-vNIC serialisation and parallelism need a backend that is slow on demand
(and one that declares a wait of its own, like a post-plug check)."""

import time

from lxml import etree

from vif_driver.api import Option, VifDriver


def _seconds(value: str) -> float:
    number = float(value)
    if not 0 <= number <= 60:
        raise ValueError(f"{value!r} is not 0-60 seconds")
    return number


class SlowDriver(VifDriver):
    options = {"sleep": Option(0.0, _seconds, "seconds each call takes"),
               "wait": Option(0.0, _seconds, "seconds the after phase of a plug says it may wait (wait_bound)")}

    def wait_bound(self, properties):
        return properties.options["wait"] if properties.hook_point == "after_device_create" else 0.0

    def plug_device(self, domxml, properties):
        time.sleep(properties.options["sleep"])
        if properties.is_before:
            for stale in domxml.findall("source"):
                domxml.remove(stale)
            etree.SubElement(domxml, "source", bridge="br-slow")
        return domxml

    def unplug_device(self, domxml, properties):
        time.sleep(properties.options["sleep"])

"""A small driver for the framework's tests, registered through an entry
point by the test_driver_path fixture. It is also the shortest example of a
driver: options, a pure XML rewrite, host-state checks, caps and stats
(and host network setup, where it depends on nothing)."""

import json
import os

from lxml import etree

from vif_driver.api import HostError, NotReady, Option, VifDriver
from vif_driver.core import validate


class TestDriver(VifDriver):
    options = {
        "bridge": Option("br-test", validate.ifname, "bridge to plug into"),
        "fail_in": Option("", str, "API call that raises HostError (tests)"),
        "crash_in": Option("", str, "API call that raises a bug (tests)"),
        "log": Option("", str, "file to append one JSON line per call to (tests)"),
    }

    def _note(self, call, domxml, ctx):
        if ctx.options["log"]:
            with open(ctx.options["log"], "a") as f:
                f.write(json.dumps({"call": call, "phase": ctx.phase, "hook_point": ctx.hook_point,
                                    "vnic_id": ctx.vnic_id, "vm_id": ctx.vm_id,
                                    "empty": domxml is None, "bridge": ctx.options["bridge"],
                                    "pid": os.getpid()}) + "\n")
        if ctx.options["fail_in"] == call:
            raise HostError(f"bridge {ctx.options['bridge']} is not there; create it")
        if ctx.options["crash_in"] == call:
            raise KeyError("bug")
        ctx.record(f"checked bridge {ctx.options['bridge']}")

    def plug_device(self, domxml, properties):
        self._note("plug_device", domxml, properties)
        if not properties.is_before:
            if domxml is None and properties.get("test_not_ready"):
                raise NotReady("port not connected after 0.1 s")
            return domxml
        domxml.set("type", "bridge")
        sources = domxml.findall("source")
        for stale in sources[1:]:
            domxml.remove(stale)
        source = sources[0] if sources else etree.SubElement(domxml, "source")
        source.attrib.clear()
        source.set("bridge", properties.options["bridge"])
        target = domxml.find("target")
        if target is None:
            target = etree.SubElement(domxml, "target")
        target.set("dev", "tap" + properties.vnic_id[:11])
        return domxml

    def unplug_device(self, domxml, properties):
        self._note("unplug_device", domxml, properties)

    def migration_source(self, domxml, properties):
        self._note("migration_source", domxml, properties)

    def migration_destination(self, domxml, properties):
        self._note("migration_destination", domxml, properties)

    def get_caps(self, caps, properties):
        self._note("get_caps", None, properties)
        ids = caps.setdefault("openstack_binding_host_ids", {})
        for plugin_type in properties.plugin_types:
            ids[plugin_type] = "test-host-id"
        return caps

    def get_stats(self, stats, properties):
        self._note("get_stats", None, properties)
        stats.setdefault("network", {})["tap-test"] = {"name": "tap-test", "rxPackets": "1"}
        return stats

    def underlays(self, properties):
        self._note("underlays", None, properties)
        return []

    def network_setup(self, setup, properties):
        self._note("network_setup", None, properties)


class NotADriver:
    pass

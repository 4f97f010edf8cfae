"""Registration checks a driver class passes before its first call, as
pluggy checks a plugin against its hook specs: public methods that are not
API methods (typos), API methods that cannot take the framework's
arguments, malformed options. Each problem is one line naming the method or
option and the fix."""

from __future__ import annotations

import pytest

from vif_driver.api import Option, VifDriver
from vif_driver.core import registry, validate
from vif_driver.drivers.linux_bridge import LinuxBridgeDriver
from vif_driver.drivers.ovs import OvsDriver


def _typo(self, domxml, properties):
    return domxml


class Good(VifDriver):
    options = {
        "bridge": Option("br-x", validate.ifname),
        "vlan": Option(None, validate.optional(validate.vlan)),
        "mappings": Option({}, lambda v: validate.mappings(v, "bridge", "physnet1:br-phys1")),
        "wait": Option(2, validate.seconds),  # an int default for a float parser is fine
        "name": Option(""),
    }

    def plug_device(self, domxml, properties, extra=None):  # extra arguments with defaults are fine
        return domxml

    def get_stats(self, *args):
        return args[0]

    @staticmethod
    def get_caps(caps, properties):
        return caps

    @classmethod
    def unplug_device(cls, domxml, properties):
        pass

    def _helper(self):
        pass

    @property
    def state(self):  # a property is no method the framework could miss
        return None


def test_builtin_and_well_formed_drivers_pass():
    for cls in (OvsDriver, LinuxBridgeDriver, Good, VifDriver):
        assert registry.check_class(cls) is None, cls


def _driver(**attributes) -> type:
    return type("Vendor", (VifDriver,), attributes)


@pytest.mark.parametrize("attributes, message", [
    ({"plug_devices": _typo},
     "public method plug_devices is not an API method; did you mean plug_device? (helpers start with _)"),
    ({"get_capabilities": _typo},
     "public method get_capabilities is not an API method; did you mean get_caps? (helpers start with _)"),
    ({"reconnect": _typo},
     "public method reconnect is not an API method; rename it _reconnect if it is a helper"),
    ({"plug_device": lambda self, domxml: domxml},
     "plug_device(self, domxml) has the wrong signature; the framework calls plug_device(domxml, properties)"),
    ({"get_caps": lambda self, caps, properties, host: caps},
     "get_caps(self, caps, properties, host) has the wrong signature; the framework calls "
     "get_caps(caps, properties)"),
    ({"open": lambda self, *, pool: None},
     "open(self, pool) has the wrong signature; the framework calls open()"),
    ({"adds_stats": lambda self: True},
     "adds_stats(self) has the wrong signature; the framework calls adds_stats(properties)"),
    ({"get_stats": staticmethod(lambda self, stats, properties: stats)},
     "get_stats(self, stats, properties) has the wrong signature; the framework calls "
     "get_stats(stats, properties)"),
    ({"close": None}, "close is a NoneType, not a method; the framework calls close()"),
    ({"migration_source": "no"}, "migration_source is a str, not a method; the framework calls "
                                 "migration_source(domxml, properties)"),
])
def test_methods_outside_the_api_or_with_the_wrong_signature_are_refused(attributes, message):
    assert registry.check_class(_driver(**attributes)) == message


def test_async_and_generator_api_methods_are_refused():
    async def plug_device(self, domxml, properties):
        return domxml

    def get_stats(self, stats, properties):
        yield stats

    for name, func in (("plug_device", plug_device), ("get_stats", get_stats)):
        problem = registry.check_class(_driver(**{name: func}))
        assert problem.startswith(f"{name} is a generator or async function; the framework calls {name}(")


def test_a_public_method_of_a_mixin_is_refused_too():
    class Mixin:
        def connect(self):
            pass

    cls = type("Vendor", (VifDriver, Mixin), {})
    assert registry.check_class(cls).startswith("public method connect is not an API method")


@pytest.mark.parametrize("options, message", [
    ({"bridge": Option(5, validate.ifname)},
     "option bridge: default 5 is an int, but ifname gives a str; make it a str or None"),
    ({"vlan": Option("7", validate.optional(validate.vlan))},
     "option vlan: default '7' is a str, but vlan gives an int; make it an int or None"),
    ({"debug": Option(True, int)},
     "option debug: default True is a bool, but int gives an int; make it an int or None"),
    ({"bridge": Option("br x", validate.ifname)},
     "option bridge: default 'br x' is refused by its own parser: 'br x' is not an interface name (letters, "
     "digits, '-', '_' or '.', starting with a letter or digit)"),
    ({"debug": Option(False, bool)},
     "option debug: parse=bool is not an option type; use validate.boolean (bool('false') is True)"),
    ({"ports": Option([], list)},
     "option ports: parse=list is not an option type; use str, int, float or a parser function "
     "(see vif_driver.core.validate)"),
    ({"bridge": Option("br0", "ifname")},
     "option bridge: parse is a str, not callable; use str, int, float or a vif_driver.core.validate parser"),
    ({"bridge": "br0"}, "option bridge is a str, not an api.Option"),
    ({"bad-name": Option("")}, "option name 'bad-name' is not a custom property name ([A-Za-z_][A-Za-z0-9_]*)"),
    ({"bridge": Option("", help=None)}, "option bridge: help must be a str and host_only a bool"),
    (["bridge"], "options is a list, not a dict of name -> api.Option"),
])
def test_malformed_options_are_refused(options, message):
    assert registry.check_class(_driver(options=options)) == message


def test_every_message_fits_a_hook_line():
    """A refusal reaches VDSM's log as one line of at most 240 characters,
    prefix and driver target included."""
    prefix = "vif-driver[my_sdn] before_device_create vnic 6a9f5e2b-71a3-4c1e-9d1b-2f4e6a8c0b13: "
    target = "driver 'my_sdn' (my_sdn.driver:MySdnDriver): "
    worst = [_driver(reconnect=_typo), _driver(get_caps=lambda self, caps, properties, host: caps),
             _driver(options={"physical_interface_mappings": Option(5, validate.ifname)})]
    for cls in worst:
        assert len(prefix + target + registry.check_class(cls)) <= 240

"""Resident drivers (the agent's): opened once before their first call, and
only in a process that said it is long-running; hook processes never open
them. And the json-free JSON helpers give json's own results."""

import json
import math
import subprocess
import sys
import textwrap

import pytest

from vif_driver import fastjson


SCRIPT = textwrap.dedent("""
    import sys
    from vif_driver.core import dispatch
    from vif_driver.api import VifDriver

    class Counting(VifDriver):
        opened = 0
        def open(self):
            Counting.opened += 1
            assert self.resident

    import vif_driver.core.registry as registry
    registry._instances["counting"] = Counting()
    if sys.argv[1] == "resident":
        dispatch.run_resident()
    first = dispatch.load_driver("counting")
    second = dispatch.load_driver("counting")
    print(first is second, first.resident, Counting.opened)
""")


@pytest.mark.parametrize("mode, expected", [("resident", "True True 1"), ("hook", "True False 0")])
def test_drivers_are_opened_once_and_only_when_resident(mode, expected):
    out = subprocess.run([sys.executable, "-c", SCRIPT, mode], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == expected


def test_dispatch_does_not_import_threading_or_json():
    code = "import sys; from vif_driver.core import dispatch; print('threading' in sys.modules, 'json' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "False False", out.stderr


@pytest.mark.parametrize("obj", [
    {"network": {"tap1": {"rx": "1", "sampleTime": 1795288906.04}}, "x": [1, 2.5, None, True, "\u00e9\n"]},
    [], {}, "", 0, -1.5e300, {"nested": [[{"a": [{}]}]]},
])
def test_dumps_and_parse_match_json(obj):
    assert fastjson.dumps(obj) == json.dumps(obj)
    text = json.dumps(obj, indent=1)
    assert fastjson.parse(text) == json.loads(text)


def test_parse_accepts_what_json_accepts_and_refuses_with_its_message():
    assert math.isnan(fastjson.parse('{"a": NaN}')["a"])
    assert fastjson.parse(" [Infinity] ") == [math.inf]
    for bad in ["{not json", "", "[1,", '{"a": 1} x']:
        with pytest.raises(ValueError) as ours:
            fastjson.parse(bad)
        with pytest.raises(ValueError) as theirs:
            json.loads(bad)
        assert str(ours.value) == str(theirs.value)
    with pytest.raises(TypeError, match="not JSON serializable"):
        fastjson.dumps({"a": object()})

"""Our own failures at the network-setup hook points never block the
administrator's host network change: VDSM's request unreadable (not
UTF-8, truncated JSON, not an object), a driver whose backend is down, a
bug or a broken install of ours: before_network_setup exits 0 with one
warning line (VDSM logs it) and leaves the file byte-for-byte as it was.
Only a refusal exits 2 (tests/network_setup/test_ovs_refusals.py). Through
the installed entrypoint and the emulated VDSM runner, served by the test
driver (tests/drivers/vif_test_driver.py), with no token file: every
request gets the full check."""

import json
import os

import pytest

from ns_helpers import ROLLBACK, net, one_line, request

UNCHECKED = "the network setup goes on unchecked"


REQUEST = json.dumps(request({"tun2": net("eth1", ipaddr="192.0.2.12", custom={"underlay": "tunnel"})}))


def _passes_with_a_warning(run, data, *words):
    assert run.rc == 0, run.stderr
    assert not run.aborted
    line = one_line(run)
    assert line.startswith("vif-driver before_network_setup: ") or line.startswith("vif-driver[test] "), line
    for word in words:
        assert word in line, line
    assert run.data == (data if isinstance(data, bytes) else data.encode("utf-8"))  # untouched
    return line


@pytest.mark.parametrize("data,words", [
    (b'{"request": {"networks": {"n\xff": {}}}}', ["not UTF-8", "byte 0xff at offset 28"]),
    (REQUEST[:40], ["is not valid JSON"]),
    ("[1, 2]", ['has no "request" object']),
    ('{"request": {"networks": ["eth1"], "bondings": {}}}', ["request.networks is not an object"]),
])
def test_an_unreadable_request_passes_with_one_warning(run_hook, setup_env, data, words):
    run = run_hook("before_network_setup", data, env=setup_env())
    _passes_with_a_warning(run, data, *words, UNCHECKED)


def test_an_unreadable_request_only_fails_the_after_hook(run_hook, setup_env):
    """after_network_setup cannot block anything: its failure code is 1, logged."""
    data = b'{"request": {"networks": {"n\xff": {}}}}'
    run = run_hook("after_network_setup", data, env=setup_env())
    assert run.rc == 1 and not run.aborted
    assert "not UTF-8" in one_line(run) and UNCHECKED not in run.stderr


@pytest.mark.parametrize("call", ["underlays", "network_setup"])
def test_a_driver_whose_backend_is_down_does_not_block(run_hook, setup_env, call):
    """HostError (the backend cannot be read) is no refusal."""
    run = run_hook("before_network_setup", REQUEST, env=setup_env(fail_in=call))
    line = _passes_with_a_warning(run, REQUEST, "bridge br-test is not there; create it")
    assert line.startswith("vif-driver[test] before_network_setup: "), line


def test_a_bug_in_a_driver_does_not_block(run_hook, setup_env):
    run = run_hook("before_network_setup", REQUEST, env=setup_env(crash_in="network_setup"))
    _passes_with_a_warning(run, REQUEST, "internal error KeyError", UNCHECKED)


def test_a_broken_install_does_not_block(run_hook, setup_env, tmp_path):
    """An exception outside the check itself (here: vif_driver.core.network_setup
    cannot be imported) is ours too."""
    site = tmp_path / "inject"
    site.mkdir()
    (site / "sitecustomize.py").write_text(
        "import sys\nsys.modules['vif_driver.core.network_setup'] = None  # import fails\n")
    env = setup_env()
    env["PYTHONPATH"] = os.pathsep.join([str(site), env["PYTHONPATH"]])
    run = run_hook("before_network_setup", REQUEST, env=env)
    _passes_with_a_warning(run, REQUEST, "internal error ModuleNotFoundError", UNCHECKED)


def test_a_rollback_is_never_refused_even_for_a_bad_underlay(run_hook, setup_env):
    """VDSM restoring the host (options._inRollback, here as the string
    "true", which the gate's byte check does not see) always passes."""
    data = json.dumps(request({"x": net("eth4", custom={"underlay": "tunel"})},
                              options=dict(ROLLBACK, _inRollback="true")))
    run = run_hook("before_network_setup", data, env=setup_env())
    assert run.rc == 0 and run.stderr == "" and run.text == data


def test_a_bad_underlay_value_is_still_refused(run_hook, setup_env):
    """The refusal stays 2: the administrator's own property is wrong."""
    data = json.dumps(request({"x": net("eth4", custom={"underlay": "tunel"})}))
    run = run_hook("before_network_setup", data, env=setup_env())
    assert run.rc == 2 and run.aborted
    assert "custom property underlay 'tunel' is not tunnel or physnet:NAME" in one_line(run)
    assert run.text == data

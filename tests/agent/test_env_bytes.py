"""VDSM's environment can hold bytes that are not UTF-8 (a VM custom
property such as vm_note=caf\\xe9): Python gives them to the hook as lone
surrogates. The hook sends such values to the agent as their bytes, so a
driver there sees what it sees in a hook process: the same answers both
ways, never "internal error UnicodeEncodeError"."""

import os

import pytest

from vif_driver.agent import validation
from vif_driver.hook import client
from vif_driver.hook.protocol import Request, Response

from agent_helpers import AGENT_USER, ENGINE_XML, VNIC_ID, hook_env, run

pytestmark = pytest.mark.root

PROPS = {"provider_type": "EXTERNAL_NETWORK", "plugin_type": "TEST_SDN", "vnic_id": VNIC_ID}
LATIN1 = "caf\udce9"  # os.environ's str for the bytes b"caf\xe9"


@pytest.fixture
def three_ways(users, agent_config, start_agent, hooks_root, stdlib_hooks, driver_site):
    """A hook point run in-process (root, no agent), through the agent as
    root and through the agent as vdsm from #!/usr/bin/python3."""
    config = agent_config()
    agent = start_agent(config)
    root_env = dict(os.environ, PYTHONPATH=driver_site, VIF_DRIVER_CONFIG=config)
    vdsm_root, vdsm_lib = stdlib_hooks

    def runs(hook_point, props):
        return [run(hooks_root, hook_point, ENGINE_XML, props=props,
                    env=dict(root_env, VIF_DRIVER_AGENT_SOCKET="/nonexistent/agent.sock")),
                run(hooks_root, hook_point, ENGINE_XML, props=props,
                    env=dict(root_env, VIF_DRIVER_AGENT_SOCKET=agent.socket)),
                run(vdsm_root, hook_point, ENGINE_XML, props=props, user=AGENT_USER,
                    env=hook_env(config, agent.socket, vdsm_lib))]
    runs.agent = agent
    return runs


def test_a_property_of_bytes_not_utf8_does_not_stop_the_vm(three_ways):
    in_process, as_root, as_vdsm = three_ways("before_device_create", dict(PROPS, vm_note=LATIN1))
    assert in_process.rc == 0 and 'bridge="br-test"' in in_process.text, in_process.stderr
    for result in (as_root, as_vdsm):
        assert (result.rc, result.text, result.stderr) == (in_process.rc, in_process.text, in_process.stderr)


def test_a_driver_option_of_such_bytes_is_judged_as_in_process(three_ways):
    """The value reaches the driver's parser as it is (not dropped, which
    would plug into the default bridge instead): the same refusal."""
    in_process, as_root, as_vdsm = three_ways("before_device_create", dict(PROPS, bridge="br" + LATIN1))
    assert in_process.rc == 2 and "property bridge" in in_process.stderr, in_process.stderr
    for result in (as_root, as_vdsm):
        assert (result.rc, result.text, result.stderr) == (in_process.rc, in_process.text, in_process.stderr)


def test_messages_and_properties_carry_such_bytes_both_ways():
    """A driver's message quoting such a value comes back as the str a hook
    process prints (its stderr escapes it); a lone surrogate no bytes stand
    for (no environment holds one) is not sent."""
    response = Response(1, messages=[f"note {LATIN1} is odd"], actions=[f"read {LATIN1}"])
    _, pairs = client.fields_of(client.response_message(response)[client.HEADER:])
    assert client.response_of(pairs).to_dict() == response.to_dict()
    sent = client.request_message(Request("before_device_create", "", {"a": LATIN1, "b": "\ud800", "c": "ok"}))
    assert b"a=caf\xe9" in sent and b"b=" not in sent and b"c=ok" in sent
    assert validation.request_from(sent[client.HEADER:]).properties == {"a": LATIN1, "c": "ok"}

"""With the agent's socket there, a hook does not read the host config: the
agent decides ownership, the deadline, capture_dir and debug. The hooks run
as VDSM runs them (vdsm, #!/usr/bin/python3, standard library only)."""

import json
import os
import stat
import time

import pytest

from vif_driver.hook import client

from agent_helpers import AGENT_USER, ENGINE_XML, VNIC_ID, hook_env, run

pytestmark = pytest.mark.root

PROPS = {"provider_type": "EXTERNAL_NETWORK", "plugin_type": "TEST_SDN", "vnic_id": VNIC_ID}
# CRLF, a tab and no final newline: any re-serialisation would change it
ODD_XML = ENGINE_XML.replace("\n", "\r\n").replace("  ", "\t").rstrip()


def _config(shared_dir, name, text):
    path = os.path.join(shared_dir, name)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o644)
    return path


def test_a_plugin_type_the_agent_maps_to_nothing_leaves_the_file_untouched(users, shared_dir, start_agent,
                                                                         stdlib_hooks):
    config = _config(shared_dir, "unmapped.conf",
                     "[vif-driver]\ntimeout = 5\n[plugin_types]\nTEST_SDN = test\nUNMAPPED_SDN =\n")
    agent = start_agent(config, "--log-level", "DEBUG")
    root, lib = stdlib_hooks
    props = dict(PROPS, plugin_type="UNMAPPED_SDN")  # in the config's text: may_map lets it through
    env = hook_env(config, agent.socket, lib)
    for point in ("before_device_create", "before_nic_hotunplug", "after_device_create"):
        result = run(root, point, ODD_XML, props=props, user=AGENT_USER, env=env)
        assert result.rc == 0 and result.stderr == "", (point, result.stderr)
        assert result.data == ODD_XML.encode(), point  # byte for byte
    assert f"before_device_create vnic {VNIC_ID}: exit 0" in agent.log()  # the agent decided
    mapped = run(root, "before_device_create", ENGINE_XML, props=PROPS, user=AGENT_USER, env=env)
    assert mapped.rc == 0 and 'bridge="br-test"' in mapped.text


def test_caps_and_stats_with_no_driver_configured_are_left_as_vdsm_made_them(users, shared_dir, start_agent,
                                                                            stdlib_hooks):
    config = _config(shared_dir, "none.conf", "[plugin_types]\nOPEN_VSWITCH =\nOVIRT_PROVIDER_OVN =\n"
                     "LINUX_BRIDGE =\n")
    agent = start_agent(config)
    root, lib = stdlib_hooks
    caps = '{"hooks": {},  "odd":\t1}'
    for point in ("after_get_caps", "after_get_stats"):
        result = run(root, point, caps, user=AGENT_USER, env=hook_env(config, agent.socket, lib))
        assert result.rc == 0 and result.stderr == "", (point, result.stderr)
        assert result.data == caps.encode(), point


def test_the_hook_reads_no_config_while_the_agent_answers(users, agent_config, shared_dir, start_agent,
                                                        stdlib_hooks):
    """The hook's config is broken (and names TEST_SDN, so may_map passes):
    only the agent's counts. Without the agent the same hook fails on it."""
    agent = start_agent(agent_config())
    root, lib = stdlib_hooks
    broken = _config(shared_dir, "broken.conf", "[plugin_types\nTEST_SDN = test\n")
    result = run(root, "before_device_create", ENGINE_XML, props=PROPS, user=AGENT_USER,
                 env=hook_env(broken, agent.socket, lib))
    assert result.rc == 0 and result.stderr == "" and 'bridge="br-test"' in result.text
    alone = run(root, "before_device_create", ENGINE_XML, props=PROPS, user=AGENT_USER,
                env=hook_env(broken, os.path.join(shared_dir, "no-agent.sock"), lib))
    assert alone.rc == 2 and "malformed section header" in alone.stderr


def test_a_timeout_over_the_old_client_bound_is_honoured(users, agent_config, shared_dir, start_agent,
                                                        stdlib_hooks):
    """The agent's timeout is 4 s (deadline 8 s); the hook's own config says
    0.5 s, which bounded the old client at 2 x 0.5 + 5 = 6 s; a driver call
    of 6.5 s (also past the client's FIRST_ANSWER) is answered."""
    agent = start_agent(agent_config(timeout=4))
    root, lib = stdlib_hooks
    short = _config(shared_dir, "short.conf", "[vif-driver]\ntimeout = 0.5\n[plugin_types]\nSLOW_SDN = slow\n")
    sleep = 6.5
    assert sleep > 2 * 0.5 + client.CLIENT_MARGIN and sleep > client.FIRST_ANSWER
    started = time.monotonic()
    result = run(root, "before_device_create", ENGINE_XML, user=AGENT_USER, env=hook_env(short, agent.socket, lib),
                 props=dict(PROPS, plugin_type="SLOW_SDN", sleep=str(sleep)))
    took = time.monotonic() - started
    assert result.rc == 0, result.stderr
    assert 'bridge="br-slow"' in result.text
    assert sleep <= took < 8 + client.CLIENT_MARGIN, took


def test_capture_dir_of_the_agents_config_is_saved_by_the_agent(users, agent_config, shared_dir, start_agent,
                                                               stdlib_hooks):
    captured = os.path.join(shared_dir, "captured")
    config = agent_config(extra="")
    with open(config) as f:
        text = f.read().replace("[vif-driver]\n", f"[vif-driver]\ncapture_dir = {captured}\n")
    _config(shared_dir, "vif-driver.conf", text)
    agent = start_agent(config)
    root, lib = stdlib_hooks
    env = hook_env(config, agent.socket, lib)
    result = run(root, "before_device_create", ENGINE_XML, props=PROPS, user=AGENT_USER, env=env)
    assert result.rc == 0 and 'bridge="br-test"' in result.text
    foreign = run(root, "before_device_create", ENGINE_XML, user=AGENT_USER, env=env,
                  props=dict(PROPS, plugin_type="OTHER_SDN"))
    assert foreign.rc == 0
    files = sorted(os.listdir(captured))
    assert len(files) == 1 and files[0].endswith(f"-before_device_create-{VNIC_ID}.json"), files
    path = os.path.join(captured, files[0])
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600  # properties can hold credentials
    with open(path) as f:
        doc = json.load(f)
    assert doc["hook_point"] == "before_device_create" and doc["data"] == ENGINE_XML
    assert doc["device_properties"]["vnic_id"] == VNIC_ID
    assert not any(k.startswith("VIF_DRIVER_") or k == "_hook_domxml" for k in doc["device_properties"])

    # $VIF_DRIVER_CAPTURE_DIR stays the hook's: saved there once, not again by the agent
    own = os.path.join(shared_dir, "own")
    os.mkdir(own)
    os.chmod(own, 0o777)
    again = run(root, "before_device_create", ENGINE_XML, props=PROPS, user=AGENT_USER,
                env=dict(env, VIF_DRIVER_CAPTURE_DIR=own))
    assert again.rc == 0
    assert len(os.listdir(own)) == 1 and len(os.listdir(captured)) == 1


def test_debug_of_the_agents_config_prints_the_actions(users, agent_config, shared_dir, start_agent,
                                                      stdlib_hooks):
    config = agent_config()
    root, lib = stdlib_hooks
    agent = start_agent(config)
    env = hook_env(config, agent.socket, lib)
    quiet = run(root, "before_device_create", ENGINE_XML, props=PROPS, user=AGENT_USER, env=env)
    assert quiet.rc == 0 and quiet.stderr == ""
    with open(config) as f:
        text = f.read().replace("[vif-driver]\n", "[vif-driver]\ndebug = true\n")
    _config(shared_dir, "vif-driver.conf", text)  # the agent re-reads it
    loud = run(root, "before_device_create", ENGINE_XML, props=PROPS, user=AGENT_USER, env=env)
    assert loud.rc == 0 and loud.stderr == "done: checked bridge br-test\n", loud.stderr


@pytest.mark.parametrize("point, data, props", [
    ("before_device_create", ENGINE_XML, PROPS),
    ("after_get_stats", '{"network": {}}', None),
])
def test_an_owned_hook_imports_only_the_hook_package_and_the_standard_library(
        users, agent_config, shared_dir, start_agent, stdlib_hooks, point, data, props):
    """What VDSM starts per vNIC: vif_driver.hook and C-level stdlib modules,
    no JSON, re, socket or config parser (the agent does all of that)."""
    agent = start_agent(agent_config())
    root, lib = stdlib_hooks
    env = dict(hook_env(agent_config(), agent.socket, lib), PYTHONPROFILEIMPORTTIME="1")
    result = run(root, point, data, props=props, user=AGENT_USER, env=env)
    assert result.rc == 0, result.stderr
    names = {line.rsplit("|", 1)[1].strip() for line in result.stderr.splitlines()
             if line.startswith("import time:") and "imported package" not in line}
    ours = {n for n in names if n.startswith("vif_driver")}
    assert "vif_driver.hook.client" in ours
    assert all(n in ("vif_driver", "vif_driver.hook") or n.startswith("vif_driver.hook.") for n in ours), ours
    assert not names & {"json", "re", "socket", "enum", "configparser", "_json", "lxml", "ovs"}, names

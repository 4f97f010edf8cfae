"""The agent end to end: the same answers as the in-process path, hooks
running as the unprivileged vdsm user, authorisation, socket activation,
deadlines, parallelism and a crash in the middle of a run."""

import json
import os
import pwd
import signal
import socket
import subprocess
import threading
import time

import pytest

from vif_driver.hook import client
from vif_driver.hook.points import HOOK_POINTS
from vif_driver.hook.protocol import Request

from agent_helpers import AGENT_USER, ENGINE_XML, FIXTURES, INTRUDER, VIF_DRIVERD, VNIC_ID, hook_env, require_tool, run

pytestmark = pytest.mark.root

OTHER_VNIC = "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0"


def _json(name):
    with open(os.path.join(FIXTURES, "json", name), encoding="utf-8") as f:
        return f.read()


def cases():
    """(id, hook point, data, properties): every hook point, plus failures."""
    props = {"provider_type": "EXTERNAL_NETWORK", "plugin_type": "TEST_SDN", "vnic_id": VNIC_ID}
    for name, point in sorted(HOOK_POINTS.items()):
        if point.json:
            yield name, name, _json("caps.json" if "caps" in name else "stats.json"), {}
        else:
            yield name, name, ENGINE_XML, props
            if not point.writes:
                yield name + "-empty", name, "", props
    yield "driver-error", "before_device_create", ENGINE_XML, dict(props, fail_in="plug_device")
    yield "driver-bug", "after_device_create", ENGINE_XML, dict(props, crash_in="plug_device")
    yield "bad-option", "before_nic_hotplug", ENGINE_XML, dict(props, bridge="--may-exist")
    yield "not-ready", "after_device_create", "", dict(props, test_not_ready="1")
    yield "foreign", "before_device_create", ENGINE_XML, dict(props, plugin_type="OTHER_SDN")
    yield "bad-xml", "before_device_create", "<interface", props


CASES = list(cases())


def outcome(result):
    return result.rc, result.text, result.stderr


@pytest.fixture
def both_ways(users, agent_config, start_agent, hooks_root, stdlib_hooks, driver_site):
    """Run a hook point in-process (root, no agent), through the agent as
    root, and through the agent as vdsm from #!/usr/bin/python3."""
    config = agent_config()
    agent = start_agent(config)
    root_env = dict(os.environ, PYTHONPATH=driver_site, VIF_DRIVER_CONFIG=config)
    vdsm_root, vdsm_lib = stdlib_hooks

    def runs(hook_point, data, props):
        in_process = run(hooks_root, hook_point, data, props=props,
                         env=dict(root_env, VIF_DRIVER_AGENT_SOCKET="/nonexistent/agent.sock"))
        as_root = run(hooks_root, hook_point, data, props=props,
                      env=dict(root_env, VIF_DRIVER_AGENT_SOCKET=agent.socket))
        as_vdsm = run(vdsm_root, hook_point, data, props=props, user=AGENT_USER,
                      env=hook_env(config, agent.socket, vdsm_lib))
        return in_process, as_root, as_vdsm
    runs.agent = agent
    return runs


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_agent_gives_the_in_process_result(both_ways, case):
    _, hook_point, data, props = case
    in_process, as_root, as_vdsm = both_ways(hook_point, data, props)
    assert outcome(as_root) == outcome(in_process)
    assert outcome(as_vdsm) == outcome(in_process)


def test_agent_answers_what_the_hook_rewrote(both_ways):
    _, as_root, as_vdsm = both_ways("before_device_create", ENGINE_XML,
                                    {"provider_type": "EXTERNAL_NETWORK", "plugin_type": "TEST_SDN",
                                     "vnic_id": VNIC_ID})
    assert as_vdsm.rc == 0 and '<source bridge="br-test"/>' in as_vdsm.text
    assert f"uid {pwd.getpwnam(AGENT_USER).pw_uid}" in both_ways.agent.log()


def test_vdsm_hook_python_has_no_lxml(stdlib_hooks, users):
    """The interpreter the vdsm hooks use above cannot import lxml: the agent
    path really is standard library only."""
    _, lib = stdlib_hooks
    proc = subprocess.run(["/usr/bin/python3", "-c", "import lxml"], env={"PYTHONPATH": lib},
                          capture_output=True, timeout=30, user=AGENT_USER, check=False, cwd="/")
    assert proc.returncode != 0


def test_unprivileged_hook_without_agent_says_how_to_start_it(users, agent_config, stdlib_hooks):
    root, lib = stdlib_hooks
    env = hook_env(agent_config(), "/nonexistent/agent.sock", lib)
    props = {"provider_type": "EXTERNAL_NETWORK", "plugin_type": "TEST_SDN", "vnic_id": VNIC_ID}
    before = run(root, "before_device_create", ENGINE_XML, props=props, user=AGENT_USER, env=env)
    assert before.rc == 2 and before.aborted
    assert before.text == ENGINE_XML
    lines = before.stderr.splitlines()
    assert len(lines) == 1
    assert "agent socket /nonexistent/agent.sock is missing" in lines[0]
    assert "systemctl enable --now vif-driverd.socket" in lines[0]
    after = run(root, "after_device_create", "", props=props, user=AGENT_USER, env=env)
    assert after.rc == 1 and "vif-driverd.socket" in after.stderr
    foreign = run(root, "before_device_create", ENGINE_XML, user=AGENT_USER, env=env,
                  props=dict(props, plugin_type="OTHER_SDN"))
    assert foreign.rc == 0 and foreign.stderr == ""
    caps = run(root, "after_get_caps", {"hooks": {}}, user=AGENT_USER, env=env)
    assert caps.rc == 0 and caps.json() == {"hooks": {}}  # polls degrade quietly: one line, exit 0
    assert caps.stderr.count("\n") == 1 and "vif-driverd.socket" in caps.stderr


def test_stale_socket_unprivileged_says_agent_not_answering(users, agent_config, stdlib_hooks, shared_dir):
    root, lib = stdlib_hooks
    path = os.path.join(shared_dir, "stale.sock")
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(path)  # bound, never listening: connection refused
    os.chmod(path, 0o666)
    props = {"provider_type": "EXTERNAL_NETWORK", "plugin_type": "TEST_SDN", "vnic_id": VNIC_ID}
    result = run(root, "before_device_create", ENGINE_XML, props=props, user=AGENT_USER,
                 env=hook_env(agent_config(), path, lib))
    assert result.rc == 2 and "not answering" in result.stderr and "vif-driverd.socket" in result.stderr


def test_intruder_without_socket_access_gets_a_clear_error(users, agent_config, start_agent, stdlib_hooks):
    config = agent_config()
    agent = start_agent(config)
    st = os.stat(agent.socket)
    assert oct(st.st_mode & 0o777) == "0o660"
    assert st.st_gid == users[AGENT_USER].pw_gid  # the socket's group is the agent group
    root, lib = stdlib_hooks
    props = {"provider_type": "EXTERNAL_NETWORK", "plugin_type": "TEST_SDN", "vnic_id": VNIC_ID}
    result = run(root, "before_device_create", ENGINE_XML, props=props, user=INTRUDER,
                 env=hook_env(config, agent.socket, lib))
    assert result.rc == 2 and "permission denied on the agent socket" in result.stderr
    assert result.text == ENGINE_XML


def test_intruder_is_refused_by_peer_credentials_and_logged(users, agent_config, start_agent, stdlib_hooks):
    config = agent_config()
    agent = start_agent(config, "--socket-mode", "0666")  # file mode lets anyone connect
    root, lib = stdlib_hooks
    props = {"provider_type": "EXTERNAL_NETWORK", "plugin_type": "TEST_SDN", "vnic_id": VNIC_ID}
    refused = run(root, "before_device_create", ENGINE_XML, props=props, user=INTRUDER,
                  env=hook_env(config, agent.socket, lib))
    assert refused.rc == 2 and f"uid {users[INTRUDER].pw_uid} may not use the agent" in refused.stderr
    assert refused.text == ENGINE_XML
    after = run(root, "after_device_create", "", props=props, user=INTRUDER,
                env=hook_env(config, agent.socket, lib))
    assert after.rc == 1  # an after-hook never stops other providers' scripts
    assert "refused pid" in agent.log() and f"({INTRUDER})" in agent.log()
    allowed = run(root, "before_device_create", ENGINE_XML, props=props, user=AGENT_USER,
                  env=hook_env(config, agent.socket, lib))
    assert allowed.rc == 0 and "br-test" in allowed.text


def test_agent_group_members_are_allowed(users, agent_config, start_agent):
    """agent_groups: the intruder becomes allowed once its group is listed."""
    config = agent_config(extra="")
    with open(config) as f:
        text = f.read().replace("[vif-driver]\n", f"[vif-driver]\nagent_users = nobody-here\n"
                                                  f"agent_groups = {INTRUDER}\n")
    with open(config, "w") as f:
        f.write(text)
    agent = start_agent(config, "--socket-mode", "0666")
    req = Request("after_get_caps", "{}", {})
    as_intruder = _call_as(INTRUDER, agent.socket, req)
    assert as_intruder["exit_code"] == 0 and "TEST_SDN" in as_intruder["data"]
    as_vdsm = _call_as(AGENT_USER, agent.socket, req)
    assert as_vdsm["exit_code"] == 1 and "may not use the agent" in as_vdsm["messages"][0]


def test_a_refused_client_always_reads_its_refusal(users, agent_config, start_agent):
    """The agent reads the request before refusing it: closing first made
    the client's write fail with EPIPE ("Broken pipe") about 1 in 300 times
    instead of the refusal."""
    config = agent_config()
    with open(config) as f:
        text = f.read().replace("[vif-driver]\n", "[vif-driver]\nagent_users = nobody-here\n"
                                                  "agent_groups = nobody-here\n")
    with open(config, "w") as f:
        f.write(text)
    agent = start_agent(config, "--socket-mode", "0666")
    code = ("import sys\nfrom vif_driver.hook import client\nfrom vif_driver.hook.protocol import Request\n"
            "bad = []\nfor _ in range(300):\n"
            "    try:\n        r = client.call(Request('after_get_caps', '{}', {}), sys.argv[1])\n"
            "        'may not use the agent' in r.messages[0] or bad.append(r.messages)\n"
            "    except client.AgentError as e:\n        bad.append(str(e))\n"
            "print(len(bad), bad[:3])\n")
    import vif_driver
    lib = os.path.dirname(os.path.dirname(vif_driver.__file__))
    proc = subprocess.run(["/usr/bin/python3", "-c", code, agent.socket], env={"PYTHONPATH": lib},
                          capture_output=True, text=True, timeout=120, user=AGENT_USER,
                          group=pwd.getpwnam(AGENT_USER).pw_gid, extra_groups=[], cwd="/", check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("0 "), proc.stdout


def _call_as(user, path, req):
    code = ("import json, sys\nfrom vif_driver.hook import client\nfrom vif_driver.hook.protocol import Request\n"
            "r = client.call(Request.from_dict(json.loads(sys.argv[1])), sys.argv[2])\n"
            "print(json.dumps(r.to_dict()))\n")
    import vif_driver
    lib = os.path.dirname(os.path.dirname(vif_driver.__file__))
    proc = subprocess.run(["/usr/bin/python3", "-c", code, json.dumps(req.to_dict()), path],
                          env={"PYTHONPATH": lib}, capture_output=True, text=True, timeout=30,
                          user=user, group=pwd.getpwnam(user).pw_gid, extra_groups=[], cwd="/", check=False)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_socket_activation(users, agent_config, driver_site, stdlib_hooks, shared_dir, tmp_path):
    """systemd-socket-activate binds the socket and starts the agent on the
    first connection, passing fd 3 (LISTEN_FDS), as vif-driverd.socket does."""
    require_tool("systemd-socket-activate")
    config = agent_config()
    path = os.path.join(shared_dir, "activated.sock")
    log = open(tmp_path / "activated.log", "wb")
    proc = subprocess.Popen(["systemd-socket-activate", "-l", path, "-E", f"PYTHONPATH={driver_site}",
                             "-E", f"VIF_DRIVER_CONFIG={config}", VIF_DRIVERD],
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 10
        while not os.path.exists(path) and time.monotonic() < deadline:
            time.sleep(0.05)
        os.chown(path, 0, users[AGENT_USER].pw_gid)  # SocketGroup= / SocketMode= of the unit
        os.chmod(path, 0o660)
        root, lib = stdlib_hooks
        props = {"provider_type": "EXTERNAL_NETWORK", "plugin_type": "TEST_SDN", "vnic_id": VNIC_ID}
        for _ in range(3):
            result = run(root, "before_device_create", ENGINE_XML, props=props, user=AGENT_USER,
                         env=hook_env(config, path, lib))
            assert result.rc == 0, result.stderr
            assert '<source bridge="br-test"/>' in result.text
        text = (tmp_path / "activated.log").read_text()
        assert "serving on the socket from systemd" in text
        assert text.count("serving on") == 1  # one resident agent answered all three
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def test_deadline_turns_a_hung_backend_into_an_error(agent_config, start_agent):
    config = agent_config(timeout=1)  # deadline 2 s
    agent = start_agent(config)
    props = {"provider_type": "EXTERNAL_NETWORK", "plugin_type": "SLOW_SDN", "vnic_id": VNIC_ID,
             "sleep": "6"}
    started = time.monotonic()
    response = client.call(Request("before_device_create", ENGINE_XML, props), agent.socket)
    took = time.monotonic() - started
    assert response.exit_code == 2
    assert "no answer from the driver within 2 s" in response.messages[0]
    assert took < 4
    again = client.call(Request("before_device_create", ENGINE_XML, dict(props, sleep="0")), agent.socket)
    assert again.exit_code == 2 and "still running" in again.messages[0]  # serialised per vNIC
    other = client.call(Request("before_device_create", ENGINE_XML,
                                dict(props, sleep="0", vnic_id=OTHER_VNIC)), agent.socket)
    assert other.exit_code == 0  # other vNICs are not held up


def test_vnics_run_in_parallel_and_one_vnic_serially(agent_config, start_agent):
    agent = start_agent(agent_config(timeout=10))
    props = {"provider_type": "EXTERNAL_NETWORK", "plugin_type": "SLOW_SDN", "sleep": "1"}

    def timed(vnics):
        results = []

        def one(vnic):
            r = client.call(Request("before_device_create", ENGINE_XML, dict(props, vnic_id=vnic)),
                            agent.socket)
            results.append(r.exit_code)
        threads = [threading.Thread(target=one, args=(v,)) for v in vnics]
        started = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert results == [0] * len(vnics)
        return time.monotonic() - started

    assert timed([VNIC_ID, OTHER_VNIC, "vnic-3", "vnic-4"]) < 1.9
    assert timed([VNIC_ID, VNIC_ID]) >= 2.0


def test_killing_the_agent_loses_no_request_reported_done(users, agent_config, driver_site, stdlib_hooks,
                                                          shared_dir, tmp_path):
    """A socket holder plays systemd (socket kept open, the service restarted
    on failure); the agent is SIGKILLed while hooks are running. A hook that
    exits 0 got its full answer; the others say what happened; requests sent
    while the agent was down are answered by the restarted one."""
    config = agent_config(timeout=5)
    path = os.path.join(shared_dir, "held.sock")
    holder = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    holder.bind(path)
    os.chown(path, 0, users[AGENT_USER].pw_gid)
    os.chmod(path, 0o660)
    holder.listen(128)
    trampoline = ("import os, sys\nos.dup2(int(sys.argv[1]), 3)\nos.environ['LISTEN_FDS'] = '1'\n"
                  "os.environ['LISTEN_PID'] = str(os.getpid())\nos.execv(sys.argv[2], sys.argv[2:])\n")
    env = dict(os.environ, PYTHONPATH=driver_site, VIF_DRIVER_CONFIG=config)
    log = open(tmp_path / "held.log", "wb")

    def spawn():
        return subprocess.Popen([__import__("sys").executable, "-c", trampoline, str(holder.fileno()),
                                 VIF_DRIVERD], env=env, pass_fds=[holder.fileno()],
                                stdout=log, stderr=subprocess.STDOUT)
    agent = spawn()
    root, lib = stdlib_hooks
    results = {}

    def hook(i):
        props = {"provider_type": "EXTERNAL_NETWORK", "plugin_type": "SLOW_SDN",
                 "vnic_id": f"vnic-{i}", "sleep": "2"}
        results[i] = run(root, "before_device_create", ENGINE_XML, props=props, user=AGENT_USER,
                         env=hook_env(config, path, lib), timeout=60)
    try:
        first = [threading.Thread(target=hook, args=(i,)) for i in range(6)]
        for t in first:
            t.start()
        time.sleep(1.5)  # the agent has started and is in the middle of these
        agent.send_signal(signal.SIGKILL)
        agent.wait(timeout=10)
        later = [threading.Thread(target=hook, args=(i,)) for i in range(6, 10)]
        for t in later:
            t.start()  # these queue in the socket while no agent runs
        time.sleep(0.5)
        agent = spawn()  # Restart=on-failure
        for t in first + later:
            t.join(timeout=60)
            assert not t.is_alive(), "a hook hung"
    finally:
        agent.terminate()
        agent.wait(timeout=30)
        holder.close()
        log.close()
    assert len(results) == 10
    for i, result in results.items():
        if result.rc == 0:
            assert '<source bridge="br-slow"/>' in result.text, (i, result.stderr)
        else:
            assert result.rc == 2 and result.text == ENGINE_XML
            assert "closed the connection without an answer" in result.stderr, result.stderr
    assert all(results[i].rc == 0 for i in range(6, 10)), {i: results[i].stderr for i in range(6, 10)}
    assert any(results[i].rc != 0 for i in range(6)), "the kill should have hit a running request"


def test_agent_reloads_a_changed_config(agent_config, start_agent):
    config = agent_config()
    agent = start_agent(config)
    props = {"provider_type": "EXTERNAL_NETWORK", "plugin_type": "TEST_SDN", "vnic_id": VNIC_ID}
    first = client.call(Request("before_device_create", ENGINE_XML, props), agent.socket)
    assert 'bridge="br-test"' in first.data
    with open(config) as f:
        text = f.read().replace("bridge = br-test", "bridge = br-changed")
    time.sleep(0.01)
    with open(config, "w") as f:
        f.write(text)
    second = client.call(Request("before_device_create", ENGINE_XML, props), agent.socket)
    assert 'bridge="br-changed"' in second.data
    with open(config, "w") as f:
        f.write(text + "[bogus]\n")
    broken = client.call(Request("before_device_create", ENGINE_XML, props), agent.socket)
    assert broken.exit_code == 2 and "unknown section [bogus]" in broken.messages[0]


def test_agent_started_with_a_broken_config_serves_the_error(agent_config, start_agent, config_file):
    """No crash loop under socket activation: the agent starts and every
    answer names what is wrong with the config."""
    broken = config_file("[vif-driver]\ntimeout = never\n", "broken.conf")
    agent = start_agent(broken)
    props = {"provider_type": "EXTERNAL_NETWORK", "plugin_type": "TEST_SDN", "vnic_id": VNIC_ID}
    answer = client.call(Request("before_device_create", ENGINE_XML, props), agent.socket)
    assert answer.exit_code == 2 and "timeout: 'never' is not a number of seconds" in answer.messages[0]


def test_agent_never_uses_a_config_from_the_request(agent_config, start_agent, config_file):
    agent = start_agent(agent_config())
    evil = config_file("[plugin_types]\nTEST_SDN = \n")
    props = {"provider_type": "EXTERNAL_NETWORK", "plugin_type": "TEST_SDN", "vnic_id": VNIC_ID,
             "VIF_DRIVER_CONFIG": evil}
    response = client.call(Request("before_device_create", ENGINE_XML, props), agent.socket)
    assert response.exit_code == 0 and 'bridge="br-test"' in response.data


def test_sigterm_stops_cleanly_and_removes_its_socket(agent_config, start_agent):
    agent = start_agent(agent_config())
    agent.proc.send_signal(signal.SIGTERM)
    assert agent.proc.wait(timeout=30) == 0
    assert not os.path.exists(agent.socket)

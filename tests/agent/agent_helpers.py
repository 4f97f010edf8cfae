"""Helpers of the agent tests (a module of its own: pytest gives the name
'conftest' to each test directory's conftest in turn)."""

import json
import os
import pwd
import socket
import subprocess
import sys
import time

from vif_driver.hook import client
from vif_driver.tools import runner

from support import FIXTURES, RUN_TAG, VM_ID, VNIC_ID, ensure_user, external_props, require, require_root, require_tool  # noqa: F401

VIF_DRIVERD = os.path.join(os.path.dirname(sys.executable), "vif-driverd")
SYSTEM_PYTHON = "/usr/bin/python3"
# vdsm is the user the product serves (shared by runs; the last run to end
# removes it if a run created it); the intruder is this run's own.
AGENT_USER, INTRUDER = "vdsm", f"vifx{RUN_TAG}"
# A stopped agent waits at most stop_grace(timeout) for the requests it is
# answering, then CLOSE_GRACE for its drivers: 2 x 10 s + 1 + 5 for the
# largest timeout a test uses, plus margin.
STOP_BOUND = 30.0
with open(os.path.join(FIXTURES, "xml", "engine-nic.xml"), encoding="utf-8") as _f:
    ENGINE_XML = _f.read()
TEST_CONFIG = """
[vif-driver]
timeout = {timeout}
[plugin_types]
TEST_SDN = test
SLOW_SDN = slow
[driver:test]
bridge = br-test
"""


class AgentProcess:
    """A vif-driverd started by a test; its output goes to a log file."""

    def __init__(self, argv, env, socket_path, log_path):
        self.argv, self.env = argv, env
        self.socket = socket_path
        self.log_path = log_path
        self.proc = None
        self._log = None

    def start(self, wait=True):
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.argv, env=self.env, stdin=subprocess.DEVNULL,
                                     stdout=self._log, stderr=subprocess.STDOUT)
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout=20.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"agent exited with {self.proc.returncode}:\n{self.log()}")
            if "serving on" in self.log():
                return
            time.sleep(0.05)
        raise AssertionError(f"agent not ready after {timeout} s:\n{self.log()}")

    def log(self) -> str:
        with open(self.log_path, encoding="utf-8", errors="replace") as f:
            return f.read()

    def stop(self, bound=STOP_BOUND):
        """SIGTERM; the agent must exit within ``bound`` seconds (its stop
        grace plus margin): a hang fails the test instead of a silent SIGKILL."""
        hung = False
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=bound)
            except subprocess.TimeoutExpired:
                hung = True
                self.proc.kill()
                self.proc.wait(timeout=10)
        if self._log:
            self._log.close()
            self._log = None
        if hung:
            raise AssertionError(f"the agent did not exit within {bound} s of SIGTERM:\n{self.log()[-3000:]}")


def hook_env(config, socket_path=None, pythonpath=None):
    """The environment VDSM gives a hook (a small one, as a service has)."""
    env = {"PATH": "/usr/bin:/bin", "VIF_DRIVER_CONFIG": config, "LANG": "C.UTF-8"}
    if socket_path:
        env["VIF_DRIVER_AGENT_SOCKET"] = socket_path
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    return env


def run(root, hook_point, data="", *, env, user=None, props=None, timeout=60):
    """The emulated VDSM runner; as ``user`` with that user's primary group
    (subprocess' user= alone would keep root's group)."""
    group = pwd.getpwnam(user).pw_gid if user is not None else None
    return runner.run_hooks(str(root), hook_point, data, device_properties=props,
                            vm_id=VM_ID, base_env=env, user=user, group=group, timeout=timeout)


def raw_exchange(path, payload: bytes, *, frame=True, timeout=15.0):
    """Send bytes straight to the agent socket; the decoded answer, or None
    when the agent closed the connection without one. With ``frame``, the
    payload gets its 4-byte length first."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(path)
        try:
            s.sendall(len(payload).to_bytes(4, "big") + payload if frame else payload)
        except (BrokenPipeError, ConnectionResetError):
            pass
        try:
            return answer_of(skip_deadline(s, client.read_message(s)))
        except (EOFError, ConnectionResetError):
            return None


def skip_deadline(sock, payload: bytes) -> bytes:
    """The response message: ``payload``, or the one after it when
    ``payload`` is the agent's deadline message (checked)."""
    kind, pairs = client.fields_of(payload)
    if kind != client.DEADLINE:
        return payload
    assert [key for key, _ in pairs] == ["seconds"] and float(bytes(pairs[0][1])) > 0, pairs
    return client.read_message(sock)


def answer_of(payload: bytes) -> dict:
    """A Response dict from an answer message, checked by the hook's own parser."""
    kind, pairs = client.fields_of(payload)
    assert kind == client.RESPONSE, kind
    answer = client.response_of(pairs)
    return {"exit_code": answer.exit_code, "data": answer.data, "messages": answer.messages,
            "actions": answer.actions}


def fields(*items) -> bytes:
    """A message's payload (no length) of raw fields, each bytes or text:
    the tests choose them, to be wrong."""
    raw = [item.encode() if isinstance(item, str) else item for item in items]
    return b"".join(len(f).to_bytes(4, "big") + f for f in raw)


def request(hook_point="before_device_create", data=ENGINE_XML, **props):
    properties = external_props("TEST_SDN")
    properties["vmId"] = VM_ID
    properties.update(props)
    return {"hook_point": hook_point, "data": data, "properties": properties, "dry_run": False}


def request_fields(obj: dict) -> bytes:
    """A request dict as the hook sends it; keys other than the four of
    request() go as fields of their own, values as given."""
    items = ["request"]
    for key, value in obj.items():
        if key == "properties":
            for name, text in value.items():
                items += ["property", f"{name}={text}"]
        elif key == "dry_run" and isinstance(value, bool):
            items += [key, "true" if value else "false"]
        else:
            items += [key, value]
    return fields(*items)


def send(path, obj, **kwargs):
    """Send a request dict the way the hook does (see request_fields)."""
    return raw_exchange(path, request_fields(obj), **kwargs)


def lifecycle(directory, hooks_root, env, *, user=None, after_step=None):
    """Run every fixture of a lifecycle directory through the emulated VDSM
    runner; ``after_step(fixture, result)`` plays libvirt's part. Returns
    [(fixture, result)]."""
    from vif_driver.tools.fixture import Fixture, expand
    results = []
    for path in expand([directory]):
        fixture = Fixture.load(path)
        group = pwd.getpwnam(user).pw_gid if user is not None else None
        result = runner.run_hooks(str(hooks_root), fixture.hook_point, fixture.data,
                                  device_properties=fixture.device_properties,
                                  vm_properties=fixture.vm_properties, vm_id=fixture.vm_id,
                                  base_env=env, user=user, group=group, timeout=120)
        results.append((fixture, result))
        if after_step:
            after_step(fixture, result)
    return results


# What may differ between two stats answers for the same devices: the
# counters move between reads (each answer reads them when asked), each
# entry with the sampleTime of its read.
FRESHNESS = {"sampleTime", "rx", "tx", "rxDropped", "txDropped", "rxErrors", "txErrors"}


def without_freshness(stats: dict) -> dict:
    """Stats JSON with only the fields of FRESHNESS left out of each network
    entry; everything else (devices, state, speed, VDSM's own sections)
    must be equal."""
    network = {name: {k: v for k, v in entry.items() if k not in FRESHNESS} if isinstance(entry, dict) else entry
               for name, entry in stats.get("network", {}).items()}
    return dict(stats, network=network) if "network" in stats else stats


def comparable(fixture, result):
    """What must be equal between the agent and the in-process path: the
    exit code, the data (for stats: all of it but FRESHNESS), stderr."""
    text = result.text
    if fixture.hook_point == "after_get_stats" and text.strip():
        text = without_freshness(json.loads(text))
    return fixture.hook_point, result.rc, text, result.stderr

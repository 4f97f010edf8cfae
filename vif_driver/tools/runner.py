"""An emulation of VDSM's hook runner (lib/vdsm/common/hooks.py).

VDSM cannot be installed here, so tests and `vif-driver replay` run hook
scripts through this faithful copy of its rules:
- every regular, executable file of <hooks_root>/<hook_point>/, in sorted
  order, one after another, each seeing the previous one's edits;
- the data goes through a temp file named by $_hook_domxml or $_hook_json
  (JSON hooks get json.dumps of the data);
- environment: the runner's own, then the device's custom properties, then
  the VM's (VM wins), then vmId;
- exit code 1: failed, later scripts run; 2: failed, no further script;
  >2: failed with a warning; stdout is discarded, stderr logged;
- before_* hooks (VDSM's raiseError) fail the operation and drop the data;
  after_* hooks' data is used whatever the exit codes;
- as ``user`` (VDSM runs vNIC hooks as vdsm): that user's uid, primary
  group and supplementary groups, as the account has them (vdsm's primary
  group is kvm on EL9), never root's gid 0 or root's groups, which would
  let a hook read root:root 0640 files the real vdsm cannot.
Unlike VDSM, the emulation can bound a script's run time (``timeout``) so a
broken test cannot hang; VDSM itself waits forever.
"""

from __future__ import annotations

import glob
import json
import os
import subprocess
import tempfile

from vif_driver.hook.points import HOOK_POINTS


class ScriptResult:
    __slots__ = ("path", "rc", "stderr")

    def __init__(self, path: str, rc: int, stderr: str):
        self.path, self.rc, self.stderr = path, rc, stderr

    def __repr__(self) -> str:
        return f"ScriptResult({os.path.basename(self.path)!r}, rc={self.rc}, stderr={self.stderr!r})"


class HookRun:
    """The outcome of one hook point: what VDSM would go on with."""

    def __init__(self, hook_point: str, data: bytes, scripts: list[ScriptResult], failed: bool):
        self.hook_point = hook_point
        self.data = data  # the file's bytes after the last script
        self.scripts = scripts
        self.failed = failed  # some script failed: VDSM logs its stderr
        # before_* failures make VDSM raise HookError: the data is thrown away
        self.aborted = failed and hook_point.startswith("before_")
        self.warnings = [f"{os.path.basename(s.path)}: hook returned unexpected return code {s.rc}"
                         for s in scripts if s.rc > 2]

    @property
    def rc(self) -> int:
        """The last non-zero exit code, 0 if every script succeeded."""
        codes = [s.rc for s in self.scripts if s.rc]
        return codes[-1] if codes else 0

    @property
    def stderr(self) -> str:
        return "".join(s.stderr for s in self.scripts)

    @property
    def text(self) -> str:
        return self.data.decode("utf-8")

    def json(self):
        return json.loads(self.data)


def scripts_of(hooks_root: str, hook_point: str) -> list[str]:
    found = glob.glob(os.path.join(hooks_root, hook_point, "*"))
    return sorted(s for s in found if os.path.isfile(s) and os.access(s, os.X_OK))


def run_hooks(hooks_root: str, hook_point: str, data="", *, device_properties=None,
              vm_properties=None, vm_id=None, base_env=None, timeout: float | None = 120,
              user=None, group=None) -> HookRun:
    """Run one hook point as VDSM does. ``data``: device XML text (or "")
    for XML hooks, a dict (or JSON text) for JSON hooks. ``user`` (name or
    uid; needs root): run the scripts as that user with its own groups
    (``group`` overrides the primary one)."""
    point = HOOK_POINTS.get(hook_point)
    is_json = point.json if point else hook_point.startswith(("after_get_", "before_get_"))
    scripts = scripts_of(hooks_root, hook_point)
    if is_json and not isinstance(data, (str, bytes)):
        payload = json.dumps(data).encode("utf-8")
    else:
        payload = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    if not scripts:
        return HookRun(hook_point, payload, [], False)

    fd, path = tempfile.mkstemp(prefix="vdsm-hook-")
    try:
        os.write(fd, payload)
        os.close(fd)
        ids = _ids(user, group)
        if "user" in ids:
            os.chown(path, ids["user"], ids["group"])
        env = dict(os.environ if base_env is None else base_env)
        env.update(device_properties or {})
        env.update(vm_properties or {})
        if vm_id:
            env["vmId"] = vm_id
        env["_hook_json" if is_json else "_hook_domxml"] = path

        results = []
        for script in scripts:
            proc = subprocess.run([script], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, env=env, timeout=timeout, check=False, **ids)
            results.append(ScriptResult(script, proc.returncode, proc.stderr.decode("utf-8", "replace")))
            if proc.returncode == 2:
                break
        with open(path, "rb") as f:
            final = f.read()
    finally:
        os.unlink(path)
    return HookRun(hook_point, final, results, any(r.rc for r in results))


def _ids(user, group) -> dict:
    """subprocess arguments for running as ``user``: its uid, its primary
    group (or ``group``) and its supplementary groups (getgrouplist, as
    initgroups would set them); {} for no user."""
    if user is None:
        return {} if group is None else {"group": group}
    import grp
    import pwd
    entry = pwd.getpwuid(user) if isinstance(user, int) else pwd.getpwnam(user)
    gid = entry.pw_gid if group is None else group if isinstance(group, int) else grp.getgrnam(group).gr_gid
    return {"user": entry.pw_uid, "group": gid, "extra_groups": os.getgrouplist(entry.pw_name, gid)}

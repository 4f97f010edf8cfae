"""Replay: run a fixture through the emulated VDSM runner and show the result."""

import difflib
import json
import os
import sys
import tempfile

from vif_driver import install, runner
from vif_driver.config import CONFIG_ENV
from vif_driver.entry import DRY_RUN_ENV
from vif_driver.fixture import Fixture


class Replay:
    """A fixture's run: the runner's outcome plus what replay reports."""

    def __init__(self, fixture: Fixture, run: runner.HookRun):
        self.fixture = fixture
        self.run = run

    @property
    def expected_exit_code(self) -> int:
        return int(self.fixture.expect.get("exit_code", 0))

    @property
    def ok(self) -> bool:
        return self.run.rc == self.expected_exit_code

    def _pretty(self, text: str) -> "list[str]":
        if self.run.hook_point.startswith("after_get_") and text.strip():
            text = json.dumps(json.loads(text), indent=2, sort_keys=True) + "\n"
        return text.splitlines(keepends=True)

    def diff(self) -> str:
        before = self._pretty(self.fixture.data)
        after = self._pretty(self.run.text)
        return "".join(difflib.unified_diff(before, after, "input", "output"))

    def report(self) -> str:
        title = self.fixture.description or os.path.basename(self.fixture.path or "")
        lines = [f"=== {self.run.hook_point}: {title}"]
        for script in self.run.scripts:
            lines.append(f"--- {os.path.basename(script.path)}: exit code {script.rc}")
            lines.extend("    " + line for line in script.stderr.splitlines())
        lines.extend(self.run.warnings)
        lines.append(f"exit code: {self.run.rc} (expected {self.expected_exit_code})"
                     + ("" if self.ok else "  <-- MISMATCH"))
        if self.run.aborted:
            lines.append("VDSM would abort the operation and discard the data")
        diff = self.diff()
        lines.append("diff:" if diff else "diff: (file unchanged)")
        if diff:
            lines.append(diff.rstrip("\n"))
        if self.run.data.strip():
            lines.append("result:")
            lines.append("".join(self._pretty(self.run.text)).rstrip("\n"))
        else:
            lines.append("result: (empty file)")
        return "\n".join(lines)


def replay(fixture: Fixture, *, hooks_root: "str | None" = None, config: "str | None" = None,
           dry_run: bool = False, env: "dict | None" = None, interpreter: str = sys.executable) -> Replay:
    """Run ``fixture``; without ``hooks_root`` our entrypoint is installed
    alone in a temporary hooks directory for the running interpreter."""
    base_env = dict(os.environ if env is None else env)
    if config:
        base_env[CONFIG_ENV] = os.path.abspath(config)
    if dry_run:
        base_env[DRY_RUN_ENV] = "1"
    if hooks_root is not None:
        return Replay(fixture, _run(fixture, hooks_root, base_env))
    with tempfile.TemporaryDirectory(prefix="vif-driver-replay-") as tmp:
        install.install_hooks(tmp, interpreter, hooks_dir="", hook_points=[fixture.hook_point])
        return Replay(fixture, _run(fixture, tmp, base_env))


def _run(fixture, hooks_root, base_env):
    return runner.run_hooks(hooks_root, fixture.hook_point, fixture.data,
                            device_properties=fixture.device_properties,
                            vm_properties=fixture.vm_properties, vm_id=fixture.vm_id,
                            base_env=base_env)

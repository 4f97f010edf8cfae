"""Replay: run a fixture through the emulated VDSM runner and show the result."""

from __future__ import annotations

import difflib
import json
import os
import sys
import tempfile

from vif_driver.core.config import CONFIG_ENV
from vif_driver.hook.entry import DRY_RUN_ENV, IN_PROCESS_ENV
from vif_driver.tools import install, runner
from vif_driver.tools.fixture import Fixture


class Replay:
    """A fixture's run: the runner's outcome plus what replay reports."""

    def __init__(self, fixture: Fixture, run: runner.HookRun, dry_run: bool = False):
        self.fixture = fixture
        self.run = run
        self.dry_run = dry_run

    @property
    def expected_exit_code(self) -> int:
        return self.fixture.exit_code

    @property
    def stderr_mismatch(self) -> str | None:
        """Why the run's stderr is not the expected one (None: it is, or
        the fixture does not say)."""
        return self.fixture.stderr_mismatch(self.run.stderr, self.dry_run)

    @property
    def ok(self) -> bool:
        return self.run.rc == self.expected_exit_code and self.stderr_mismatch is None

    def mismatch(self) -> str:
        """One line: what differs from the fixture's expectation ('' if nothing)."""
        why = []
        if self.run.rc != self.expected_exit_code:
            why.append(f"exit code {self.run.rc}, expected {self.expected_exit_code}")
        if self.stderr_mismatch:
            why.append(self.stderr_mismatch)
        return "; ".join(why)

    def _pretty(self, text: str) -> list[str]:
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
                     + ("" if self.run.rc == self.expected_exit_code else "  <-- MISMATCH"))
        if self.stderr_mismatch:
            lines.append(f"stderr: {self.stderr_mismatch}  <-- MISMATCH")
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


def replay(fixture: Fixture, *, hooks_root: str | None = None, config: str | None = None,
           dry_run: bool = False, in_process: bool = False, env: dict | None = None,
           interpreter: str = sys.executable) -> Replay:
    """Run ``fixture``; without ``hooks_root`` our entrypoint is installed
    alone in a temporary hooks directory for the running interpreter.
    ``in_process``: owned hooks never ask the agent, even unprivileged."""
    base_env = dict(os.environ if env is None else env)
    if in_process:
        base_env[IN_PROCESS_ENV] = "1"
    if config:
        base_env[CONFIG_ENV] = os.path.abspath(config)
    if dry_run:
        base_env[DRY_RUN_ENV] = "1"
    if hooks_root is not None:
        return Replay(fixture, _run(fixture, hooks_root, base_env), dry_run)
    with tempfile.TemporaryDirectory(prefix="vif-driver-replay-") as tmp:
        install.install_hooks(tmp, interpreter, hooks_dir="", hook_points=[fixture.hook_point])
        return Replay(fixture, _run(fixture, tmp, base_env), dry_run)


def _run(fixture, hooks_root, base_env):
    return runner.run_hooks(hooks_root, fixture.hook_point, fixture.data,
                            device_properties=fixture.device_properties,
                            vm_properties=fixture.vm_properties, vm_id=fixture.vm_id,
                            base_env=base_env)


def replay_all(paths, *, echo, quiet: bool = False, **kwargs) -> tuple[int, int]:
    """Replay fixture files in order, echoing each report (or one line each
    with ``quiet``) and then one summary line; returns (as expected, total).
    Raises FixtureError for a fixture that cannot be read."""
    as_expected = 0
    for path in paths:
        fixture = Fixture.load(path)
        result = replay(fixture, **kwargs)
        as_expected += result.ok
        if quiet:
            echo(f"{'ok  ' if result.ok else 'FAIL'} {result.run.rc} {fixture.hook_point:34} {path}"
                 + ("" if result.ok else f"  ({result.mismatch()})"))
        else:
            echo(result.report() + "\n")
    echo(f"{as_expected} of {len(paths)} fixtures as expected")
    return as_expected, len(paths)

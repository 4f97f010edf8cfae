"""Fixtures: one hook run's input, as captured on a host or written by hand.

    {"description": "...", "hook_point": "before_device_create",
     "device_properties": {"vnic_id": "...", "provider_type": "EXTERNAL_NETWORK", ...},
     "vm_properties": {}, "vm_id": "...",
     "data_file": "xml/ovs-interface.xml",     (or "data": "<?xml ...", "" = empty file)
     "expect": {"exit_code": 0, "stderr": []}} (optional; replay checks it)

``data_file`` is relative to the fixture. JSON hooks' data is JSON text.

``expect.stderr`` is a list of Python regular expressions, one per non-blank
line of the run's stderr, in order; each must match its whole line
(re.fullmatch). ``[]`` means no stderr at all; without the key stderr is
not checked. In a dry run the drivers' ``dry-run: `` lines (what they would
change) are left out before matching, so one fixture serves both ways.
An exit code alone cannot tell the error a fixture is about from another
one that happens to exit the same way.
"""

from __future__ import annotations

import json
import os
import re

from vif_driver.hook.points import HOOK_POINTS

DRY_RUN_PREFIX = "dry-run: "


class FixtureError(Exception):
    pass


class Fixture:
    __slots__ = ("path", "description", "hook_point", "device_properties", "vm_properties",
                 "vm_id", "data", "expect")

    def __init__(self, hook_point, data="", device_properties=None, vm_properties=None,
                 vm_id=None, description="", expect=None, path=None):
        if hook_point not in HOOK_POINTS:
            raise FixtureError(f"{path or 'fixture'}: unknown hook_point {hook_point!r}; "
                               f"known: {', '.join(sorted(HOOK_POINTS))}")
        self.path = path
        self.description = description
        self.hook_point = hook_point
        self.device_properties = dict(device_properties or {})
        self.vm_properties = dict(vm_properties or {})
        self.vm_id = vm_id
        self.data = data
        self.expect = dict(expect or {})
        self.stderr_patterns()  # bad patterns fail at load, naming the fixture

    @property
    def exit_code(self) -> int:
        """The expected exit code (default 0)."""
        return int(self.expect.get("exit_code", 0))

    def stderr_patterns(self) -> list[re.Pattern] | None:
        """The compiled expect.stderr patterns, or None when not given."""
        patterns = self.expect.get("stderr")
        if patterns is None:
            return None
        if isinstance(patterns, str):
            patterns = [patterns]
        if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
            raise FixtureError(f"{self.path or 'fixture'}: expect.stderr must be a list of regular "
                               "expressions, one per stderr line")
        try:
            return [re.compile(p) for p in patterns]
        except re.error as e:
            raise FixtureError(f"{self.path or 'fixture'}: expect.stderr: bad regular expression: {e}") from None

    def stderr_mismatch(self, stderr: str, dry_run: bool = False) -> str | None:
        """Why ``stderr`` is not what the fixture expects; None if it is."""
        patterns = self.stderr_patterns()
        if patterns is None:
            return None
        lines = [line for line in stderr.splitlines()
                 if line.strip() and not (dry_run and line.startswith(DRY_RUN_PREFIX))]
        for i, pattern in enumerate(patterns):
            if i >= len(lines):
                return f"stderr line {i + 1} missing, expected /{pattern.pattern}/"
            if not pattern.fullmatch(lines[i]):
                return f"stderr line {i + 1} {lines[i][:160]!r} does not match /{pattern.pattern}/"
        if len(lines) > len(patterns):
            return f"unexpected stderr line {len(patterns) + 1}: {lines[len(patterns)][:160]!r}"
        return None

    @classmethod
    def load(cls, path: str) -> Fixture:
        try:
            with open(path, encoding="utf-8") as f:
                doc = json.load(f)
        except (OSError, ValueError) as e:
            raise FixtureError(f"{path}: cannot read fixture: {e}") from None
        if not isinstance(doc, dict) or "hook_point" not in doc:
            raise FixtureError(f"{path}: a fixture is a JSON object with at least 'hook_point'")
        data = doc.get("data", "")
        if "data_file" in doc:
            data_path = os.path.join(os.path.dirname(path), doc["data_file"])
            try:
                with open(data_path, encoding="utf-8") as f:
                    data = f.read()
            except OSError as e:
                raise FixtureError(f"{path}: data_file: {e}") from None
        for key in ("device_properties", "vm_properties"):
            values = doc.get(key, {})
            if not isinstance(values, dict) or not all(isinstance(v, str) for v in values.values()):
                raise FixtureError(f"{path}: {key} must map names to strings")
        if not isinstance(doc.get("expect", {}), dict):
            raise FixtureError(f"{path}: expect must be an object (exit_code, stderr)")
        return cls(doc["hook_point"], data, doc.get("device_properties"), doc.get("vm_properties"),
                   doc.get("vm_id"), doc.get("description", ""), doc.get("expect"), path)

    def to_dict(self) -> dict:
        doc = {"description": self.description, "hook_point": self.hook_point,
               "device_properties": self.device_properties, "vm_properties": self.vm_properties}
        if self.vm_id:
            doc["vm_id"] = self.vm_id
        doc["data"] = self.data
        if self.expect:
            doc["expect"] = self.expect
        return doc


def expand(paths) -> list[str]:
    """Fixture files from files and directories (a directory's *.json, sorted)."""
    result: list[str] = []
    for path in paths:
        if os.path.isdir(path):
            result.extend(os.path.join(path, name) for name in sorted(os.listdir(path))
                          if name.endswith(".json"))
        else:
            result.append(path)
    return result

"""Helpers of the demo tests (a module of its own: conftest.py cannot be
imported by test modules)."""

from __future__ import annotations

import signal
import subprocess
import time


def interrupt(argv: list[str], marker: str, delay: float = 0.0) -> tuple[subprocess.Popen, str, str]:
    """Run ``argv``, send it SIGTERM ``delay`` seconds after ``marker``
    appears on its stdout; (the ended process, all its stdout, its stderr)."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    seen = ""
    try:
        while marker not in seen and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            seen += line
        assert marker in seen, seen
        time.sleep(delay)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    return proc, seen + out, err

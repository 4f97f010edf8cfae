"""The reference provider in a subprocess on 127.0.0.1, for multi-host
tests and the networks demo: ``with ProviderProcess(dir) as p: p.url``.

SQLite backend (or OVN's on ``ovn_nb``), no auth, one worker; stopped (SIGTERM, then SIGKILL) on
exit. The database and the log stay in ``directory``.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from typing import Callable


class ProviderError(Exception):
    """The provider did not start; the message names its log."""


class ProviderProcess:
    def __init__(self, directory: str, *, timeout: float = 30.0, waiting: Callable[[], None] | None = None,
                 ovn_nb: str | None = None):
        """``waiting`` runs between the polls of a start (the demo checks for
        its signals there); ``ovn_nb``: the OVN backend on that northbound
        database instead of SQLite."""
        self.dir, self.timeout, self.waiting = directory, timeout, waiting
        self.ovn_nb = ovn_nb
        self.proc: subprocess.Popen | None = None
        self.url = ""

    def __enter__(self) -> ProviderProcess:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> ProviderProcess:
        from vif_driver.provider_client.http import ProviderError as Unreachable
        from vif_driver.provider_client.http import call
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        os.makedirs(self.dir, exist_ok=True)
        log_path = os.path.join(self.dir, "provider.log")
        with open(log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "vif_driver.provider", "serve", "--host", "127.0.0.1", "--port", str(port),
                 "--auth-port", "0", "--workers", "1"]
                + (["--backend", "ovn", "--ovn-nb", self.ovn_nb] if self.ovn_nb
                   else ["--db", os.path.join(self.dir, "provider.sqlite")]),
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        self.url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                call("GET", self.url + "/v2.0/", timeout=2)
                return self
            except Unreachable:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise ProviderError(f"the provider did not start; see {log_path}") from None
                if self.waiting:
                    self.waiting()
                time.sleep(0.2)

    def stop(self) -> None:
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)

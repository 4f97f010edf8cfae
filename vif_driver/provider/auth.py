"""Keystone-v2.0-style password tokens, without a token table.

A token is ``<expiry>.<nonce>.<hmac>`` (expiry in integer nanoseconds since
the epoch, so a token lives exactly ``ttl`` seconds: whole seconds would cut
up to one second off its life) signed with a secret made when the
server starts (before gunicorn forks its workers, so every worker and both
listeners accept the same tokens).  Checking one costs a hash, not a database
round trip; tokens die with the server, and clients such as the oVirt engine
and python-neutronclient simply authenticate again on a 401.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ")


def _ns(now: float | None) -> int:
    """``now`` (seconds, for tests) or the clock, in integer nanoseconds."""
    return time.time_ns() if now is None else round(now * 1_000_000_000)


@dataclass
class Authenticator:
    """Checks credentials and issues/validates tokens.

    ``username`` None means authentication is off: every request is let in.
    """

    username: str | None = None
    password: str | None = None
    ttl: int = 3600
    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32))

    @property
    def enabled(self) -> bool:
        return self.username is not None

    def check_password(self, username: object, password: object) -> bool:
        """Constant-time comparison, so timing does not leak the password."""
        if not isinstance(username, str) or not isinstance(password, str):
            return False
        if not self.enabled:
            return True
        ok_user = hmac.compare_digest(username.encode(),
                                      (self.username or "").encode())
        ok_pass = hmac.compare_digest(password.encode(),
                                      (self.password or "").encode())
        return ok_user and ok_pass

    def _sign(self, payload: str) -> str:
        return hmac.new(self.secret, payload.encode(),
                        hashlib.sha256).hexdigest()

    def issue(self, now: float | None = None) -> tuple[str, str, str]:
        """A new token with its issue and expiry times (ISO 8601, UTC).

        The ISO expiry is rounded down to the second, so a client that
        renews at ``expires`` never holds a token the server refuses.
        """
        now_ns = _ns(now)
        expires_ns = now_ns + self.ttl * 1_000_000_000
        payload = f"{expires_ns}.{secrets.token_hex(8)}"
        return (f"{payload}.{self._sign(payload)}", _iso(now_ns / 1e9),
                _iso(expires_ns / 1e9))

    def valid(self, token: str | None, now: float | None = None) -> bool:
        if not self.enabled:
            return True
        if not token or token.count(".") != 2:
            return False
        payload, _, sig = token.rpartition(".")
        if not hmac.compare_digest(sig.encode(),
                                   self._sign(payload).encode()):
            return False
        try:
            expires_ns = int(payload.split(".")[0])
        except ValueError:
            return False
        return _ns(now) < expires_ns

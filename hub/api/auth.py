"""Who is asking: the hub's users (``users:`` in the hub file), their roles, and API tokens.

Roles are ranked — viewer < operator < supervisor < admin — and a route names the lowest role it
accepts. A client proves who it is with ``Authorization: Bearer <token>`` (from ``POST
/api/v1/login``) or ``Authorization: Basic``. Tokens are stateless: the username and expiry signed
with HMAC-SHA256 under ``http.session_secret`` (random per start when absent, which ends every
session on restart); a logout puts the token on a revocation list until it expires. PBKDF2 is
slow on purpose (600,000 rounds ≈ 0.3 s), so a Basic credential checked once is remembered, as a
hash, for a minute. Five failed logins within five minutes lock the username for five minutes.
The console carries the same token in an HttpOnly, SameSite=Strict cookie; a request it makes that
changes anything must also send ``csrf(token)`` (header ``X-CSRF-Token`` or form field ``csrf``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
from dataclasses import dataclass, field
from typing import Literal

from hub.config import User
from hub.passwords import DEFAULT_ITERATIONS, hash_password, verify_password
from protocol.clock import Clock

Role = Literal["viewer", "operator", "supervisor", "admin"]
RANK: dict[str, int] = {"viewer": 0, "operator": 1, "supervisor": 2, "admin": 3}
BASIC_CACHE_MS = 60_000
LOCK_AFTER = 5
LOCK_WINDOW_MS = 5 * 60_000
MAX_TRACKED = 1000
UNKNOWN_USER = "unknown"
_DECOY = hash_password("casewatch-decoy", iterations=DEFAULT_ITERATIONS)


@dataclass(frozen=True)
class Principal:
    username: str
    role: Role
    display_name: str

    def may(self, role: Role) -> bool:
        return RANK[self.role] >= RANK[role]


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Authenticator:
    users: dict[str, User]
    secret: bytes
    ttl_ms: int
    clock: Clock
    _basic: dict[str, int] = field(default_factory=dict)
    _failures: dict[str, list[int]] = field(default_factory=dict)
    _revoked: dict[str, int] = field(default_factory=dict)
    _not_before: dict[str, int] = field(default_factory=dict)
    """Tokens a user got before this time are void (disabled, password reset: hub/accounts.py)."""
    _lock: threading.Lock = field(default_factory=threading.Lock)
    unknown_attempts: int = 0
    """Logins tried with names that are no user's (not logged one by one)."""

    @classmethod
    def from_users(cls, users: list[User], secret: bytes | None, ttl_min: int, clock: Clock) -> Authenticator:
        return cls({u.username: u for u in users}, secret or secrets.token_bytes(32), ttl_min * 60_000, clock)

    def void_before(self, username: str, at_ms: int) -> None:
        """Tokens of ``username`` issued before ``at_ms`` are void (restored from the store)."""
        with self._lock:
            self._not_before[username] = max(at_ms, self._not_before.get(username, 0))

    def set_users(self, users: list[User], *, log_out: str | None = None) -> None:
        """Who may log in, after an admin's change; ``log_out`` ends that user's sessions."""
        now = self.clock.now_ms()
        with self._lock:
            self.users = {u.username: u for u in users}
            self._basic.clear()  # cached Basic credentials may be of an old password
            if log_out is not None:
                self._not_before[log_out] = now

    # passwords ----------------------------------------------------------------------------------
    def check_password(self, username: str, password: str) -> Principal | None:
        """The user when the password is right; None otherwise (and while the name is locked).

        The attempt is counted *before* the slow hash, under the lock, so parallel guesses cannot
        all slip in before the fifth failure locks the name; a success takes its count back. An
        unknown name costs the same hash (against a decoy), so timing does not tell who exists.
        """
        now = self.clock.now_ms()
        key = username if username in self.users else UNKNOWN_USER
        with self._lock:
            if len(self._failures) > MAX_TRACKED:  # names tried by a flood: forget the stale ones
                self._failures = {
                    k: v for k, v in self._failures.items() if v and now - v[-1] < LOCK_WINDOW_MS
                }
            recent = [t for t in self._failures.get(key, []) if now - t < LOCK_WINDOW_MS]
            if len(recent) >= LOCK_AFTER and key != UNKNOWN_USER:
                return None
            self._failures[key] = [*recent, now]
        user = self.users.get(username)
        ok = verify_password(password, user.password_hash if user is not None else _DECOY)
        if user is not None and ok:
            with self._lock:
                self._failures.pop(key, None)
            return _principal(user)
        return None

    def locked(self, username: str) -> bool:
        if username not in self.users:
            return False
        now = self.clock.now_ms()
        with self._lock:
            recent = [t for t in self._failures.get(username, []) if now - t < LOCK_WINDOW_MS]
        return len(recent) >= LOCK_AFTER

    def audit_name(self, username: str) -> str:
        """What the audit log may say of a login name: a known user's name, else "unknown"
        (a password typed into the name field must not end up in the log)."""
        return username if username in self.users else UNKNOWN_USER

    def basic(self, username: str, password: str) -> Principal | None:
        digest = hashlib.sha256(f"{username}\0{password}".encode()).hexdigest()
        now = self.clock.now_ms()
        with self._lock:
            known = self._basic.get(digest)
        user = self.users.get(username)
        if known is not None and now - known < BASIC_CACHE_MS and user is not None:
            return _principal(user)
        principal = self.check_password(username, password)
        if principal is not None:
            with self._lock:
                self._basic = {k: t for k, t in self._basic.items() if now - t < BASIC_CACHE_MS}
                self._basic[digest] = now
        return principal

    # tokens -------------------------------------------------------------------------------------
    def issue(self, principal: Principal) -> tuple[str, int]:
        expires = self.clock.now_ms() + self.ttl_ms
        body = _b64(json.dumps({"u": principal.username, "exp": expires, "n": secrets.token_hex(8)}).encode())
        return f"{body}.{self._mac(body)}", expires

    def token(self, token: str) -> Principal | None:
        body, _, mac = token.partition(".")
        if not mac or not hmac.compare_digest(mac, self._mac(body)):
            return None
        try:
            claims = json.loads(_unb64(body))
            username, expires = str(claims["u"]), int(claims["exp"])
        except (ValueError, KeyError, TypeError):
            return None
        now = self.clock.now_ms()
        with self._lock:
            if token in self._revoked:
                return None
            if expires - self.ttl_ms < self._not_before.get(username, 0):
                return None
        user = self.users.get(username)
        if user is None or expires <= now:
            return None
        return _principal(user)

    def revoke(self, token: str) -> None:
        now = self.clock.now_ms()
        with self._lock:
            self._revoked = {t: exp for t, exp in self._revoked.items() if exp > now}
            self._revoked[token] = now + self.ttl_ms

    def csrf(self, token: str) -> str:
        """The CSRF token that goes with a console session (double submit: page and header)."""
        return self._mac("csrf\x00" + token)

    def _mac(self, body: str) -> str:
        return _b64(hmac.new(self.secret, body.encode(), hashlib.sha256).digest())


def _principal(user: User) -> Principal:
    return Principal(user.username, user.role, user.display_name or user.username)

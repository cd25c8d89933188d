"""Who is asking: the hub's users (``users:`` in the hub file), their roles, and API tokens.

Roles are ranked — viewer < operator < supervisor < admin — and a route names the lowest role it
accepts. A client proves who it is with ``Authorization: Bearer <token>`` (from ``POST
/api/v1/login``) or ``Authorization: Basic``. Tokens are stateless: the username and expiry signed
with HMAC-SHA256 under ``http.session_secret`` (random per start when absent, which ends every
session on restart); a logout puts the token on a revocation list until it expires, kept in the
store (``revoked_sessions``) so that a restart does not bring a logged-out token back. PBKDF2 is
slow on purpose (600,000 rounds ≈ 0.3 s), so a Basic credential checked once is remembered, as a
hash, for a minute, and only one password is hashed at a time (a flood of logins must not take
the cores the ingest needs). Five failed logins of one username *from one address* within five
minutes lock that username for that address for five minutes — someone elsewhere cannot keep the
admin locked out — and twenty failures from one address, whatever the names, lock that address.
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
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from hub.config import User
from hub.passwords import DEFAULT_ITERATIONS, hash_password, verify_password
from protocol.clock import Clock

Role = Literal["viewer", "operator", "supervisor", "admin"]
RANK: dict[str, int] = {"viewer": 0, "operator": 1, "supervisor": 2, "admin": 3}
BASIC_CACHE_MS = 60_000
LOCK_AFTER = 5
ADDRESS_LIMIT = 20
LOCK_WINDOW_MS = 5 * 60_000
LOCAL = "local"
"""The address of a caller the server cannot name (tests, a socket without a peer)."""
HASHING = threading.BoundedSemaphore(1)
"""One PBKDF2 at a time in the whole hub."""
MAX_TRACKED = 1000
UNKNOWN_USER = "unknown"
_DECOY = hash_password("casewatch-decoy", iterations=DEFAULT_ITERATIONS)


@dataclass(frozen=True)
class Principal:
    username: str
    role: Role
    display_name: str
    centers: tuple[str, ...] = ()
    """A multi-centre hub's centres this user sees; empty: all."""

    def may(self, role: Role) -> bool:
        return RANK[self.role] >= RANK[role]

    def sees(self, centre: str) -> bool:
        return not self.centers or centre in self.centers


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
    on_revoke: Callable[[str, int], None] | None = None
    """Keeps a revocation (token nonce, expiry) where a restart finds it."""
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
    def check_password(self, username: str, password: str, address: str = LOCAL) -> Principal | None:
        """The user when the password is right; None otherwise (and while locked, see ``locked``).

        The attempt is counted *before* the slow hash, under the lock, so parallel guesses cannot
        all slip in before the fifth failure locks the name; a success takes its count back. An
        unknown name costs the same hash (against a decoy), so timing does not tell who exists.
        """
        now = self.clock.now_ms()
        pair, origin = self._keys(username, address)
        with self._lock:
            if len(self._failures) > MAX_TRACKED:  # names tried by a flood: forget the stale ones
                self._failures = {
                    k: v for k, v in self._failures.items() if v and now - v[-1] < LOCK_WINDOW_MS
                }
            if self._locked(pair, origin, now):
                return None
            for key in (pair, origin):
                self._failures[key] = [*self._recent(key, now), now]
        user = self.users.get(username)
        with HASHING:
            ok = verify_password(password, user.password_hash if user is not None else _DECOY)
        if user is not None and ok:
            with self._lock:
                self._failures.pop(pair, None)
                if self._failures.get(origin):
                    self._failures[origin].pop()
            return _principal(user)
        return None

    def locked(self, username: str, address: str = LOCAL) -> bool:
        """This name is locked for this address, or this address is locked for every name."""
        pair, origin = self._keys(username, address)
        with self._lock:
            return self._locked(pair, origin, self.clock.now_ms())

    def _keys(self, username: str, address: str) -> tuple[str, str]:
        name = username if username in self.users else UNKNOWN_USER
        return f"{name}\x00{address}", f"\x00{address}"

    def _recent(self, key: str, now: int) -> list[int]:
        return [t for t in self._failures.get(key, []) if now - t < LOCK_WINDOW_MS]

    def _locked(self, pair: str, origin: str, now: int) -> bool:
        if len(self._recent(origin, now)) >= ADDRESS_LIMIT:
            return True
        return not pair.startswith(UNKNOWN_USER + "\x00") and len(self._recent(pair, now)) >= LOCK_AFTER

    def audit_name(self, username: str) -> str:
        """What the audit log may say of a login name: a known user's name, else "unknown"
        (a password typed into the name field must not end up in the log)."""
        return username if username in self.users else UNKNOWN_USER

    def basic(self, username: str, password: str, address: str = LOCAL) -> Principal | None:
        digest = hashlib.sha256(f"{username}\0{password}".encode()).hexdigest()
        now = self.clock.now_ms()
        with self._lock:
            known = self._basic.get(digest)
        user = self.users.get(username)
        if known is not None and now - known < BASIC_CACHE_MS and user is not None:
            return _principal(user)
        principal = self.check_password(username, password, address)
        if principal is not None:
            with self._lock:
                self._basic = {k: t for k, t in self._basic.items() if now - t < BASIC_CACHE_MS}
                self._basic[digest] = now
        return principal

    # tokens -------------------------------------------------------------------------------------
    def issue(self, principal: Principal) -> tuple[str, int]:
        now = self.clock.now_ms()
        expires = now + self.ttl_ms
        claims = {"u": principal.username, "iat": now, "exp": expires, "n": secrets.token_hex(8)}
        body = _b64(json.dumps(claims).encode())
        return f"{body}.{self._mac(body)}", expires

    def _claims(self, token: str) -> tuple[str, int, int, str] | None:
        """(username, issued, expiry, nonce) of a token this hub signed; None for anything else."""
        body, _, mac = token.partition(".")
        if not mac or not hmac.compare_digest(mac, self._mac(body)):
            return None
        try:
            claims = json.loads(_unb64(body))
            return str(claims["u"]), int(claims["iat"]), int(claims["exp"]), str(claims["n"])
        except (ValueError, KeyError, TypeError):
            return None

    def token(self, token: str) -> Principal | None:
        """The user of a live token: signed here, not revoked, issued after the user's sessions were
        last ended, and within both its own expiry and the ttl configured now (a shorter ttl after
        a restart shortens the tokens already out)."""
        found = self._claims(token)
        if found is None:
            return None
        username, issued, expires, nonce = found
        now = self.clock.now_ms()
        with self._lock:
            if nonce in self._revoked:
                return None
            if issued < self._not_before.get(username, 0):
                return None
        user = self.users.get(username)
        if user is None or now >= min(expires, issued + self.ttl_ms):
            return None
        return _principal(user)

    def revoke(self, token: str) -> None:
        """End a session for good (only a token this hub signed is remembered: no junk is kept)."""
        found = self._claims(token)
        if found is None:
            return
        _username, _issued, expires, nonce = found
        now = self.clock.now_ms()
        with self._lock:
            self._revoked = {n: exp for n, exp in self._revoked.items() if exp > now}
            self._revoked[nonce] = expires
        if self.on_revoke is not None:
            self.on_revoke(nonce, expires)

    def restore_revoked(self, revoked: dict[str, int]) -> None:
        """Revocations kept in the store (at start)."""
        now = self.clock.now_ms()
        with self._lock:
            self._revoked.update({n: exp for n, exp in revoked.items() if exp > now})

    def csrf(self, token: str) -> str:
        """The CSRF token that goes with a console session (double submit: page and header)."""
        return self._mac("csrf\x00" + token)

    def _mac(self, body: str) -> str:
        return _b64(hmac.new(self.secret, body.encode(), hashlib.sha256).digest())


def _principal(user: User) -> Principal:
    return Principal(user.username, user.role, user.display_name or user.username, tuple(user.centers))

"""Console accounts: those of the hub file (``users:``), and those an admin makes in the console.

The hub file's users are the integrator's (the first admin comes from there) and are read-only
in the console; an admin makes, re-roles, disables and re-enables the others, and resets their
passwords. Those live in the store's ``accounts`` table with their PBKDF2 hash; each change is
also a ``user.account`` hub record in the log — without the hash — so the audit trail says who
changed whom, when. A name can be in only one of the two places.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from hub.config import User
from hub.store import HubStore

MIN_PASSWORD = 10


@dataclass(frozen=True)
class Account:
    username: str
    display_name: str | None
    role: str
    password_hash: str
    disabled: bool
    source: str  # "file" or "console"
    updated_ms: int | None = None
    updated_by: str | None = None
    sessions_from_ms: int = 0

    def user(self) -> User:
        return User(
            username=self.username,
            display_name=self.display_name,
            role=self.role,
            password_hash=self.password_hash,
        )

    def view(self) -> dict[str, Any]:
        """What the admin page shows: never the hash."""
        return {
            "username": self.username,
            "display_name": self.display_name,
            "role": self.role,
            "disabled": self.disabled,
            "source": self.source,
            "updated_ms": self.updated_ms,
            "updated_by": self.updated_by,
        }


class AccountStore:
    def __init__(self, store: HubStore, file_users: list[User], center: str | None = None) -> None:
        """``center``: a multi-centre hub's centre; users of the file scoped to other centres
        (``users[].centers``) may not log in to this one."""
        self.store = store
        self.file_users = {
            u.username: u for u in file_users if not u.centers or center is None or center in u.centers
        }

    def all(self) -> list[Account]:
        with self.store.reading() as db:
            rows = db.execute(
                "SELECT username, display_name, role, password_hash, disabled, updated_ms, updated_by,"
                " sessions_from_ms FROM accounts ORDER BY username"
            ).fetchall()
        made = [
            Account(
                str(r[0]),
                r[1],
                str(r[2]),
                str(r[3]),
                bool(r[4]),
                "console",
                int(r[5]),
                str(r[6]),
                int(r[7] or 0),
            )
            for r in rows
            if r[0] not in self.file_users
        ]
        listed = [
            Account(u.username, u.display_name, u.role, u.password_hash, False, "file")
            for u in self.file_users.values()
        ]
        return sorted(listed + made, key=lambda a: a.username)

    def get(self, username: str) -> Account | None:
        return next((a for a in self.all() if a.username == username), None)

    def active_users(self) -> list[User]:
        """Who may log in now."""
        return [a.user() for a in self.all() if not a.disabled]

    def create(self, account: Account, *, by: str, now_ms: int) -> bool:
        """A new account; ``False`` if the name was taken meanwhile (nothing is overwritten)."""
        if account.username in self.file_users:
            return False
        return self.store.on_writer(lambda: self._insert(account, by, now_ms))

    def _insert(self, account: Account, by: str, now_ms: int) -> bool:
        with self.store.transaction() as db:
            found = db.execute("SELECT 1 FROM accounts WHERE username = ?", (account.username,)).fetchone()
            if found is not None:
                return False
            db.execute(
                "INSERT INTO accounts (username, display_name, role, password_hash, disabled, created_ms,"
                " updated_ms, updated_by, sessions_from_ms) VALUES (?, ?, ?, ?, 0, ?, ?, ?, 0)",
                (
                    account.username,
                    account.display_name,
                    account.role,
                    account.password_hash,
                    now_ms,
                    now_ms,
                    by,
                ),
            )
        return True

    def delete(self, username: str) -> None:
        """Take back an account whose creation could not be logged."""

        def write() -> None:
            with self.store.transaction() as db:
                db.execute("DELETE FROM accounts WHERE username = ?", (username,))

        self.store.on_writer(write)

    def save(self, account: Account, *, by: str, now_ms: int) -> None:
        if account.username in self.file_users:
            raise ValueError(f"{account.username} is managed in the hub file")
        self.store.on_writer(lambda: self._upsert(account, by, now_ms))

    def _upsert(self, account: Account, by: str, now_ms: int) -> None:
        with self.store.transaction() as db:
            db.execute(
                "INSERT INTO accounts (username, display_name, role, password_hash, disabled, created_ms,"
                " updated_ms, updated_by, sessions_from_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT(username) DO UPDATE SET"
                " display_name = excluded.display_name, role = excluded.role,"
                " password_hash = excluded.password_hash, disabled = excluded.disabled,"
                " updated_ms = excluded.updated_ms, updated_by = excluded.updated_by,"
                " sessions_from_ms = excluded.sessions_from_ms",
                (
                    account.username, account.display_name, account.role, account.password_hash,
                    int(account.disabled), now_ms, now_ms, by, account.sessions_from_ms,
                ),
            )  # fmt: skip

    # sessions ended by a logout -----------------------------------------------------------------
    def revoked_sessions(self) -> dict[str, int]:
        with self.store.reading() as db:
            return {str(n): int(e) for n, e in db.execute("SELECT nonce, expires_ms FROM revoked_sessions")}

    def revoke_session(self, nonce: str, expires_ms: int) -> None:
        """Keep a logout until the token would have expired (expired ones are dropped as we go)."""

        def write() -> None:
            now = int(time.time() * 1000)
            with self.store.transaction() as db:
                db.execute("DELETE FROM revoked_sessions WHERE expires_ms < ?", (now,))
                db.execute(
                    "INSERT INTO revoked_sessions (nonce, expires_ms) VALUES (?, ?)"
                    " ON CONFLICT (nonce) DO UPDATE SET expires_ms = excluded.expires_ms",
                    (nonce, expires_ms),
                )

        self.store.on_writer(write)

"""Notifications on disk: planned in the batch's transaction, delivered by the dispatcher.

A notification is planned in the same transaction that saves the alert change it tells of, so a
crash can lose neither (and a replay cannot double it: ``dedupe`` is unique). The dispatcher takes
due ``pending`` rows, records every attempt in ``notification_attempts`` and moves the row to
``sent``, back to ``pending`` with a later ``next_ms`` (a retry) or to ``failed``. A notification
held back by a rate limit is stored as ``suppressed`` with the reason: nothing vanishes silently.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hub.notify.policy import Planned, hold_back
from hub.sql import Sql
from hub.store import HubStore

HOUR_MS = 3_600_000
_COLUMNS = (
    "id, dedupe, alert, level, reason, channel, recipient, role, target, body, state, detail, attempts,"
    " created_ms, updated_ms, next_ms"
)


@dataclass(frozen=True)
class Notification:
    id: int
    dedupe: str
    alert: str
    level: str
    reason: str
    channel: str
    recipient: str
    role: str
    target: str
    body: str
    state: str
    detail: str
    attempts: int
    created_ms: int
    updated_ms: int
    next_ms: int | None

    def to_json(self) -> dict[str, Any]:
        """For the API: a phone number shows only its last four digits (viewers read this)."""
        doc = dict(self.__dict__)
        if self.channel == "sms" and len(self.target) > 4:
            doc["target"] = "*" * (len(self.target) - 4) + self.target[-4:]
        return doc


class NotificationStore:
    def __init__(self, store: HubStore) -> None:
        self.store = store

    # planning (inside the batch's transaction) --------------------------------------------------
    @staticmethod
    def add(db: Sql, planned: list[Planned], now_ms: int, per_hour: int) -> int:
        """Store what was planned (rate limits applied); return how many rows are new."""
        if not planned:
            return 0
        keys = sorted({f"{p.channel}:{p.recipient}" for p in planned if p.channel != "webhook"})
        recent: dict[str, int] = {}
        for key in keys:
            channel, recipient = key.split(":", 1)
            (n,) = db.execute(
                "SELECT count(*) FROM notifications WHERE recipient = ? AND channel = ? AND created_ms >= ?"
                " AND state IN ('pending', 'sent')",
                (recipient, channel, now_ms - HOUR_MS),
            ).fetchone()
            recent[key] = int(n)
        cursor = db.executemany(
            "INSERT INTO notifications (dedupe, alert, level, reason, channel, recipient, role,"
            " target, body, state, detail, attempts, created_ms, updated_ms, next_ms)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?) ON CONFLICT DO NOTHING",
            [
                (
                    p.dedupe, p.alert, p.level, p.reason, p.channel, p.recipient, p.role, p.target, p.body,
                    "pending" if why is None else "suppressed", why or "", now_ms, now_ms,
                    now_ms if why is None else None,
                )
                for p, why in hold_back(planned, recent, per_hour)
            ],
        )  # fmt: skip
        return max(int(cursor.rowcount), 0)

    # delivering ---------------------------------------------------------------------------------
    def due(self, channel: str, recipient: str | None, now_ms: int, limit: int = 20) -> list[Notification]:
        """Pending notifications of one lane (a channel; a webhook is its own lane) due by now."""
        lane, args = _lane(channel, recipient)
        with self.store.reading() as db:
            rows = db.execute(
                f"SELECT {_COLUMNS} FROM notifications WHERE state = 'pending' AND {lane} AND next_ms <= ?"
                " ORDER BY next_ms, id LIMIT ?",
                (*args, now_ms, limit),
            ).fetchall()
        return [Notification(*row) for row in rows]

    def next_due(self, channel: str, recipient: str | None) -> int | None:
        lane, args = _lane(channel, recipient)
        with self.store.reading() as db:
            (due,) = db.execute(
                f"SELECT min(next_ms) FROM notifications WHERE state = 'pending' AND {lane}", args
            ).fetchone()
        return None if due is None else int(due)

    def attempted(self, note_id: int, *, at_ms: int, ok: bool, detail: str, retry_at_ms: int | None) -> str:
        """Record one attempt; the row becomes sent, pending (retry at ``retry_at_ms``) or failed."""
        state = "sent" if ok else ("pending" if retry_at_ms is not None else "failed")

        def write() -> None:  # on the store's one writer (hub/ingest.py), behind its batches
            with self.store.transaction() as db:
                db.execute(
                    "INSERT INTO notification_attempts (notification, at_ms, ok, detail) VALUES (?, ?, ?, ?)",
                    (note_id, at_ms, int(ok), detail[:500]),
                )
                db.execute(
                    "UPDATE notifications SET state = ?, detail = ?, attempts = attempts + 1, updated_ms = ?,"
                    " next_ms = ? WHERE id = ?",
                    (state, detail[:500], at_ms, retry_at_ms if state == "pending" else None, note_id),
                )

        self.store.on_writer(write)
        return state

    # reading ------------------------------------------------------------------------------------
    def query(
        self, *, alert: str | None = None, state: str | None = None, limit: int = 200
    ) -> list[Notification]:
        where, args = [], []
        if alert is not None:
            where.append("alert = ?")
            args.append(alert)
        if state is not None:
            where.append("state = ?")
            args.append(state)
        sql = f"SELECT {_COLUMNS} FROM notifications"
        if where:
            sql += " WHERE " + " AND ".join(where)
        with self.store.reading() as db:
            rows = db.execute(sql + " ORDER BY id DESC LIMIT ?", (*args, limit)).fetchall()
        return [Notification(*row) for row in rows]

    def attempts(self, note_id: int) -> list[dict[str, Any]]:
        with self.store.reading() as db:
            rows = db.execute(
                "SELECT at_ms, ok, detail FROM notification_attempts WHERE notification = ? ORDER BY id",
                (note_id,),
            ).fetchall()
        return [{"at_ms": at, "ok": bool(ok), "detail": detail or ""} for at, ok, detail in rows]

    def counts(self) -> dict[str, int]:
        with self.store.reading() as db:
            rows = db.execute("SELECT state, count(*) FROM notifications GROUP BY state").fetchall()
        return {str(s): int(n) for s, n in rows}


def _lane(channel: str, recipient: str | None) -> tuple[str, tuple[str, ...]]:
    if recipient is None:
        return "channel = ?", (channel,)
    return "channel = ? AND recipient = ?", (channel, recipient)

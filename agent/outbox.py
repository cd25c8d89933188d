"""The agent's durable outbox: every event is committed here before it is published.

SQLite in WAL mode, one table in ``seq`` order. ``append`` assigns the next ``seq`` inside the
same transaction that stores the event, so numbering is gapless and survives a SIGKILL: a number
is never reused and never skipped except by shedding, which is counted. Rows are deleted when the
hub's receipt says they are stored (``ack_through``; protocol/receipts.py) — a broker's PUBACK is
not enough, a broker can crash — and replayed in ``seq`` order after an outage or a restart.

Each outbox file has an identity, its ``epoch`` (16 random hex characters drawn when the file is
created, sent in every envelope): a box whose outbox was deleted or replaced starts again at seq 1
under a new epoch, and the hub records the reset instead of taking the new events for replays.

The outbox is bounded: over ``max_events`` it sheds the oldest events of the lowest priority first
(``routine`` heartbeats, stats and vitals, then ``observation``), keeping ``critical`` ones
(conditions, tamper, cabinet access, health) until nothing else is left; events older than
``max_age_s`` (by default the hub's own age bound: it would refuse them) are dropped too.

Plain ``sqlite3`` rather than sqlite-utils here: the outbox is on the hot path of every event and
needs explicit transactions around a read-increment-insert (sqlite-utils' per-insert commits
measured about 3k/s in the design brief).
"""

from __future__ import annotations

import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from protocol.errors import CasewatchError

PRIORITIES = {"critical": 0, "observation": 1, "routine": 2}
DEFAULT_MAX_AGE_S = 30 * 24 * 3600
ANCHOR_DAYS = 400
"""Days of the hub's anchors an agent keeps (one per day): over a year of reports to check."""


class OutboxError(CasewatchError):
    """The outbox database cannot be used (disk full, corrupt file, permissions)."""


@dataclass(frozen=True)
class Record:
    """What the outbox stores for one event; built by the caller once it knows the ``seq``."""

    topic: str
    payload: bytes
    priority: str
    ts: int


@dataclass(frozen=True)
class Pending:
    seq: int
    topic: str
    payload: bytes


class Outbox:
    def __init__(
        self,
        path: Path,
        *,
        max_events: int = 1_000_000,
        max_age_s: float = DEFAULT_MAX_AGE_S,
        synchronous: str = "NORMAL",
    ) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.max_events = max_events
        self.max_age_ms = int(max_age_s * 1000)
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(f"PRAGMA synchronous={synchronous}")
            self._db.executescript(
                """
                CREATE TABLE IF NOT EXISTS outbox (
                    seq INTEGER PRIMARY KEY,
                    priority INTEGER NOT NULL,
                    ts INTEGER NOT NULL,
                    topic TEXT NOT NULL,
                    payload BLOB NOT NULL
                );
                CREATE INDEX IF NOT EXISTS outbox_by_priority ON outbox(priority, seq);
                CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
                INSERT OR IGNORE INTO meta VALUES ('next_seq', 1), ('shed', 0);
                CREATE TABLE IF NOT EXISTS identity (epoch TEXT NOT NULL);
                CREATE TABLE IF NOT EXISTS device_state (device TEXT PRIMARY KEY, state TEXT NOT NULL);
                CREATE TABLE IF NOT EXISTS anchors (
                    day TEXT NOT NULL, verified INTEGER NOT NULL, ts INTEGER NOT NULL, anchor TEXT NOT NULL,
                    PRIMARY KEY (day, verified)
                );
                """
            )
            row = self._db.execute("SELECT epoch FROM identity").fetchone()
            if row is None:  # a new file, or one from before epochs: its identity from now on
                self._db.execute("INSERT INTO identity VALUES (?)", (secrets.token_hex(8),))
                row = self._db.execute("SELECT epoch FROM identity").fetchone()
            self.epoch: str = str(row[0])
            self._next_seq = self._meta("next_seq")
            self._count = int(self._db.execute("SELECT count(*) FROM outbox").fetchone()[0])
        except sqlite3.Error as exc:
            raise OutboxError(f"outbox {path}: {exc}") from exc

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` … ``COMMIT`` (the caller holds ``_lock``); rolled back on any error,
        SQLite's as ``OutboxError``."""
        try:
            self._db.execute("BEGIN IMMEDIATE")
            yield self._db
            self._db.execute("COMMIT")
        except BaseException as exc:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise OutboxError(f"outbox {self.path}: {exc}") from exc
            raise

    def _meta(self, key: str) -> int:
        return int(self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()[0])

    # writing ----------------------------------------------------------------------------------
    def append(self, build: Callable[[int], Record]) -> int:
        """Store one event under the next ``seq``; return that ``seq`` once committed."""
        return self.append_many([build])[0]

    def append_many(
        self, builders: Iterable[Callable[[int], Record]], states: Mapping[str, str] | None = None
    ) -> list[int]:
        """Store several events in one transaction (one commit, consecutive ``seq``), with the
        device ``states`` they leave behind: a kill keeps both or neither (a cabinet's inventory
        can never run ahead of, or behind, the events that changed it)."""
        with self._lock:
            seqs = []
            seq = self._next_seq
            with self._transaction() as db:
                rows = []
                for build in builders:
                    record = build(seq)
                    rows.append((seq, PRIORITIES[record.priority], record.ts, record.topic, record.payload))
                    seqs.append(seq)
                    seq += 1
                db.executemany("INSERT INTO outbox VALUES (?, ?, ?, ?, ?)", rows)
                db.execute("UPDATE meta SET value = ? WHERE key = 'next_seq'", (seq,))
                db.executemany("INSERT OR REPLACE INTO device_state VALUES (?, ?)", (states or {}).items())
            self._next_seq = seq
            self._count += len(rows)
        return seqs

    def ack(self, seqs: Iterable[int]) -> int:
        """Forget events the broker has acknowledged; return how many were still here."""
        batch = [(seq,) for seq in seqs]
        if not batch:
            return 0
        with self._lock:
            try:
                self._db.execute("BEGIN")
                cursor = self._db.executemany("DELETE FROM outbox WHERE seq = ?", batch)
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise OutboxError(f"outbox {self.path}: {exc}") from exc
            removed = cursor.rowcount if cursor.rowcount >= 0 else len(batch)
            self._count -= removed
            return removed

    def ack_through(self, seq: int) -> int:
        """Forget every event up to ``seq`` (the hub's receipt says it has them); return how many."""
        with self._lock:
            try:
                removed = self._db.execute("DELETE FROM outbox WHERE seq <= ?", (seq,)).rowcount
            except sqlite3.Error as exc:
                raise OutboxError(f"outbox {self.path}: {exc}") from exc
            removed = max(removed, 0)
            self._count -= removed
            return removed

    def rebase(self, resign: Callable[[bytes, int, str], bytes]) -> str:
        """Start a new epoch and number what is held again from 1 under it, in order.

        For an outbox that went back in time under its own epoch (a power cut lost its last
        commits, a restored disk or VM snapshot): the hub already holds seqs it would reuse and
        would drop new events as replays. ``resign(payload, seq, epoch)`` gives each held event's
        bytes under its new number. Returns the new epoch.
        """
        epoch = secrets.token_hex(8)
        with self._lock:
            with self._transaction() as db:
                rows = db.execute(
                    "SELECT seq, priority, ts, topic, payload FROM outbox ORDER BY seq"
                ).fetchall()
                db.execute("DELETE FROM outbox")
                renumbered = [
                    (i, priority, ts, topic, resign(bytes(payload), i, epoch))
                    for i, (_old, priority, ts, topic, payload) in enumerate(rows, start=1)
                ]
                db.executemany("INSERT INTO outbox VALUES (?, ?, ?, ?, ?)", renumbered)
                db.execute("UPDATE meta SET value = ? WHERE key = 'next_seq'", (len(rows) + 1,))
                db.execute("UPDATE identity SET epoch = ?", (epoch,))
            self.epoch = epoch
            self._next_seq = len(rows) + 1
        return epoch

    def device_state(self, device: str) -> str | None:
        """The state a device driver last stored with its events (None: never)."""
        with self._lock:
            try:
                row = self._db.execute(
                    "SELECT state FROM device_state WHERE device = ?", (device,)
                ).fetchone()
            except sqlite3.Error as exc:
                raise OutboxError(f"outbox {self.path}: {exc}") from exc
        return None if row is None else str(row[0])

    def keep_anchor(self, anchor: str, ts_ms: int, received_ms: int, *, verified: bool) -> None:
        """The hub's anchor (its log's signed head, protocol/anchor.py): the latest of each UTC day
        (by this box's clock) is kept, ``ANCHOR_DAYS`` days, so the hub's log can be checked against
        copies off its disk. Checked ones (``verified``: the agent has the registry key) and
        unchecked ones are kept apart: an unchecked one never replaces a checked one."""
        day = time.strftime("%Y-%m-%d", time.gmtime(received_ms / 1000))
        with self._lock, self._transaction() as db:
            db.execute(
                "INSERT INTO anchors (day, verified, ts, anchor) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (day, verified) DO UPDATE SET ts = excluded.ts, anchor = excluded.anchor"
                " WHERE excluded.ts >= anchors.ts",
                (day, int(verified), ts_ms, anchor),
            )
            db.execute(
                "DELETE FROM anchors WHERE verified = ? AND day NOT IN"
                " (SELECT day FROM anchors WHERE verified = ? ORDER BY day DESC LIMIT ?)",
                (int(verified), int(verified), ANCHOR_DAYS),
            )

    def anchors(self) -> list[str]:
        """The kept anchors, oldest first."""
        with self._lock:
            rows = self._db.execute("SELECT anchor FROM anchors ORDER BY day, verified").fetchall()
        return [str(row[0]) for row in rows]

    def first_seq(self) -> int | None:
        """The lowest seq still held (``None`` when empty)."""
        with self._lock:
            row = self._db.execute("SELECT min(seq) FROM outbox").fetchone()
        return None if row[0] is None else int(row[0])

    def enforce_bounds(self, now_ms: int) -> int:
        """Shed what is too old, then the least important while over the size bound."""
        shed = 0
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                shed += self._db.execute(
                    "DELETE FROM outbox WHERE ts < ?", (now_ms - self.max_age_ms,)
                ).rowcount
                excess = self._count - shed - self.max_events
                for priority in sorted(PRIORITIES.values(), reverse=True):
                    if excess <= 0:
                        break
                    removed = self._db.execute(
                        "DELETE FROM outbox WHERE seq IN "
                        "(SELECT seq FROM outbox WHERE priority = ? ORDER BY seq LIMIT ?)",
                        (priority, excess),
                    ).rowcount
                    shed += removed
                    excess -= removed
                if shed:
                    self._db.execute("UPDATE meta SET value = value + ? WHERE key = 'shed'", (shed,))
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise OutboxError(f"outbox {self.path}: {exc}") from exc
            self._count -= shed
        return shed

    # reading ----------------------------------------------------------------------------------
    def pending(self, after_seq: int = 0, limit: int = 500) -> list[Pending]:
        """Unacknowledged events after ``after_seq``, in ``seq`` order."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, topic, payload FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?",
                (after_seq, limit),
            ).fetchall()
        return [Pending(int(seq), str(topic), bytes(payload)) for seq, topic, payload in rows]

    def depth(self) -> int:
        return self._count

    def oldest_ts(self) -> int | None:
        with self._lock:
            row = self._db.execute("SELECT min(ts) FROM outbox").fetchone()
        return None if row[0] is None else int(row[0])

    def next_seq(self) -> int:
        return self._next_seq

    def shed_total(self) -> int:
        with self._lock:
            return self._meta("shed")

    def close(self) -> None:
        with self._lock:
            self._db.close()

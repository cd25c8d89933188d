"""The hub's tamper-evident event store: an append-only, hash-chained log in SQLite (WAL).

Every admitted event becomes one row of ``events`` at the next chain position ``pos`` (1, 2, 3…,
no holes). Each row stores the hex sha256 of the previous row's hash, its own body and its
arrival time::

    prev_hash(1)   = "0" * 64
    prev_hash(n)   = hash(n - 1)
    hash(n)        = sha256(bytes.fromhex(prev_hash(n)) + body(n)
                            + received_ms(n).to_bytes(8, "big", signed=True)).hexdigest()

where ``body`` is the canonical JSON bytes of the whole signed event as it arrived (rows written
before schema v7, ``meta.chain_v2_from``, hash the body alone: ``hub.chain``). Anyone can check a
copy of the table with that formula alone (an integrator's script, ``sqlite3`` and
``sha256sum``); ``hub.chain`` does it in constant memory, checks that every other column still
says what the body says, and names the first broken row.
Editing a body or a hash breaks that row; deleting a row leaves a hole in ``pos``; deleting the
tail is caught against the head (``head_pos``, ``head_hash`` in ``meta``) that every batch records
in its own transaction. A mismatch already present when a store is opened is kept in ``meta`` as
``head_mismatch``, so appending more events does not paper over it.

``write`` takes a whole ingest batch (events, quarantined messages, sequence gaps, the agents'
next expected ``seq``) and commits it in one transaction: the ingest acknowledges the MQTT
messages only after that commit, so nothing acknowledged is ever lost. The hot path is plain
``sqlite3`` with ``executemany`` and the head kept in memory (no SELECT per batch in the usual
case); sqlite-utils writes the schema (``hub.migrations``) and serves the small queries.
``(agent, epoch, seq)`` is unique: a redelivered event is skipped and does not advance the chain.

One ``HubStore`` per file and process; its lock serialises the ingest, HTTP and rule threads.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar, cast

from sqlite_utils import Database

from hub.chain import (
    GENESIS,
    V2_META,
    AnchorPoint,
    VerifyReport,
    head_problem,
    link,
    recorded_head,
    v2_from,
    verify_chain,
)
from hub.errors import StoreError
from hub.migrations import migrate
from hub.read_connections import ReadConnections
from protocol.signing import Keyring

__all__ = [
    "GENESIS",
    "RAW_LIMIT",
    "Batch",
    "HubStore",
    "Incoming",
    "Quarantined",
    "SeqGap",
    "StoreError",
    "Stored",
    "Stream",
    "StreamMark",
    "VerifyReport",
]

T = TypeVar("T")
RAW_LIMIT = 4096
"""How many bytes of a quarantined payload are kept (its full length is kept in ``size``)."""
_RESERVED_META = ("head_pos", "head_hash", "head_mismatch", V2_META, "quarantine_pruned")
TEXT_LIMIT = 512
"""Characters kept of a quarantined message's topic and reason."""
QUARANTINE_MAX = 50_000
"""Refused messages kept (each at most ``RAW_LIMIT`` bytes of payload): about 200 MB at most."""
_IN_CHUNK = 500  # seqs per ``IN (...)`` lookup, well under SQLite's variable limit


Stream = tuple[str, str]
"""``(agent, epoch)``: one outbox's numbering of an agent's events."""


@dataclass(frozen=True, slots=True)
class StreamMark:
    next_expected: int
    highest: int
    last_received_ms: int | None = None


@dataclass(frozen=True, slots=True)
class Incoming:
    """An event that passed decoding and signature checks, to be appended to the chain."""

    agent: str
    seq: int
    id: str
    kind: str
    ts: int
    received_ms: int
    body: bytes
    person: str | None = None
    """``subject.person`` / ``subject.band`` of the event, indexed for a person's timeline."""
    band: str | None = None
    epoch: str = ""
    """The sending outbox's identity (``""`` for hub records and agents from before epochs)."""


@dataclass(frozen=True, slots=True)
class Quarantined:
    """A message refused at ingest; ``raw`` may be whole, the store keeps ``RAW_LIMIT`` bytes."""

    received_ms: int
    topic: str | None
    code: str
    reason: str
    agent: str | None
    raw: bytes
    size: int | None = None
    """The whole payload's length when ``raw`` is already cut (None: ``len(raw)``)."""


@dataclass(frozen=True, slots=True)
class SeqGap:
    """``seq`` numbers ``first..last`` of ``agent`` that never arrived (as seen at ``detected_ms``)."""

    agent: str
    first: int
    last: int
    detected_ms: int
    epoch: str = ""


@dataclass
class Batch:
    """What one ingest round commits at once. ``streams``: next expected ``seq`` per (agent, epoch)."""

    events: list[Incoming] = field(default_factory=list)
    quarantined: list[Quarantined] = field(default_factory=list)
    gaps: list[SeqGap] = field(default_factory=list)
    streams: dict[Stream, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Stored:
    pos: int
    agent: str
    seq: int
    id: str
    kind: str
    ts: int
    received_ms: int
    body: bytes
    hash: str
    epoch: str = ""


_COLUMNS = "pos, agent, seq, id, kind, ts, received_ms, body, hash, epoch"
_INSERT_EVENT = (
    "INSERT INTO events"
    " (pos, agent, seq, id, kind, ts, received_ms, body, prev_hash, hash, person, band, epoch)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_QUARANTINE = (
    "INSERT INTO quarantine (received_ms, topic, code, reason, agent, size, raw) VALUES (?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_GAP = 'INSERT INTO gaps (agent, epoch, "first", "last", detected_ms) VALUES (?, ?, ?, ?, ?)'
_UPSERT_META = (
    "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value"
)
# highest, last_ts, last_received_ms only move forward, and stay as they were without an event
_UPSERT_STREAM = """
    INSERT INTO agent_streams (agent, epoch, next_expected, highest, last_ts, last_received_ms)
    VALUES (?, ?, ?, ?, ?, ?)
    ON CONFLICT (agent, epoch) DO UPDATE SET
        next_expected = excluded.next_expected,
        highest = max(highest, excluded.highest),
        last_ts = max(coalesce(excluded.last_ts, last_ts), coalesce(last_ts, excluded.last_ts)),
        last_received_ms = max(
            coalesce(excluded.last_received_ms, last_received_ms),
            coalesce(last_received_ms, excluded.last_received_ms)
        )
"""


class HubStore:
    def __init__(
        self,
        path: Path | str,
        *,
        synchronous: Literal["FULL", "NORMAL"] = "FULL",
        quarantine_max: int = QUARANTINE_MAX,
    ) -> None:
        if synchronous not in ("FULL", "NORMAL"):
            raise ValueError(f"synchronous must be FULL or NORMAL, got {synchronous!r}")
        self.path = Path(path)
        self.quarantine_max = quarantine_max
        self._memory = str(path) == ":memory:"
        self._lock = threading.Lock()
        self.writer: Callable[[Callable[[], Any]], Any] | None = None
        """Runs a write on the store's one writer thread (the hub's ingest); unset: inline."""
        self._readers = ReadConnections(self.path)
        self._max_seq: dict[Stream, int] = {}  # per stream, loaded on first sight: skips most lookups
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"store {self.path}: cannot create its folder: {exc}") from exc
        try:
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        except sqlite3.Error as exc:
            raise StoreError(f"store {self.path}: cannot open: {exc}") from exc
        try:
            self._db.execute("PRAGMA busy_timeout = 5000")
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute(f"PRAGMA synchronous = {synchronous}")
            migrate(self._db, where=str(self.path))
            row = self._db.execute("SELECT pos, hash FROM events ORDER BY pos DESC LIMIT 1").fetchone()
            self._head: tuple[int, str] = (int(row[0]), str(row[1])) if row else (0, GENESIS)
            meta = dict(self._db.execute("SELECT key, value FROM meta WHERE key = ?", (V2_META,)))
            self._v2_from, _ = v2_from(meta, True)  # unreadable: v1 links; verify names the meta row
            self._keep_head_mismatch()
        except BaseException as exc:
            self._db.close()
            if isinstance(exc, sqlite3.DatabaseError) and "not a database" in str(exc):
                raise StoreError(f"{self.path} is not a casewatch store: {exc}") from exc
            if isinstance(exc, sqlite3.Error):
                raise StoreError(f"store {self.path}: {exc}") from exc
            raise

    # plumbing ---------------------------------------------------------------------------------
    @contextmanager
    def locked(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                yield self._db
            except sqlite3.Error as exc:
                raise StoreError(f"store {self.path}: {exc}") from exc

    def on_writer(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` (which writes) where the store's writes happen: the hub's ingest thread when
        one runs (so other threads' writes queue behind its batches), else here."""
        runner = self.writer
        return fn() if runner is None else cast(T, runner(fn))

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        """A read-only connection of the calling thread's own: readers (API, console, reports, the
        notifier) never wait for the writer's lock (hub/read_connections.py)."""
        if self._memory:
            with self.locked() as db:
                yield db
            return
        conn = self._readers.get()
        try:
            yield conn
        except sqlite3.Error as exc:
            raise StoreError(f"store {self.path}: {exc}") from exc

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self.locked() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise

    def _keep_head_mismatch(self) -> None:
        """Record, once, a head that disagrees with the table at open: later batches overwrite it."""
        meta = dict(self._db.execute("SELECT key, value FROM meta WHERE key IN ('head_pos', 'head_hash')"))
        recorded = recorded_head(meta)
        if recorded is None:
            return
        row = self._db.execute("SELECT hash FROM events WHERE pos = ?", (recorded[0],)).fetchone()
        problem = head_problem(recorded, self._head[0], None if row is None else str(row[0]))
        if problem is not None:
            seen = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime())
            note = json.dumps({"first_broken": problem[0], "reason": f"{problem[1]}; seen at open {seen}"})
            self._db.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('head_mismatch', ?)", (note,))

    # writing ----------------------------------------------------------------------------------
    def write(self, batch: Batch) -> list[Stored]:
        """Commit a whole batch in one transaction; return the events stored, in ``pos`` order.

        An event whose ``(agent, epoch, seq)`` is already stored (or earlier in the batch) is
        skipped. ``agent_streams`` is upserted for the streams in ``batch.streams``; its
        ``highest``, ``last_ts`` and ``last_received_ms`` only move forward.
        """
        if not (batch.events or batch.quarantined or batch.gaps or batch.streams):
            return []
        with self.transaction() as db:
            stored, max_seq = self._append(db, batch.events)
            if batch.quarantined:
                db.executemany(_INSERT_QUARANTINE, [_quarantine_row(q) for q in batch.quarantined])
                self._cap_quarantine(db)
            if batch.gaps:
                db.executemany(
                    _INSERT_GAP, [(g.agent, g.epoch, g.first, g.last, g.detected_ms) for g in batch.gaps]
                )
            if batch.streams:
                newest: dict[Stream, tuple[int, int]] = {}
                for s in stored:
                    ts, received = newest.get((s.agent, s.epoch), (s.ts, s.received_ms))
                    newest[(s.agent, s.epoch)] = (max(ts, s.ts), max(received, s.received_ms))
                db.executemany(
                    _UPSERT_STREAM,
                    [
                        (*stream, nxt, max(max_seq.get(stream, 0), 0), *newest.get(stream, (None, None)))
                        for stream, nxt in batch.streams.items()
                    ],
                )
            if stored:
                db.executemany(
                    _UPSERT_META, [("head_pos", str(stored[-1].pos)), ("head_hash", stored[-1].hash)]
                )
        # committed: only now does the in-memory state move on
        if stored:
            self._head = (stored[-1].pos, stored[-1].hash)
        self._max_seq.update(max_seq)
        return stored

    def _cap_quarantine(self, db: sqlite3.Connection) -> None:
        """Oldest refused messages go first past ``quarantine_max`` rows; how many is counted in
        ``meta.quarantine_pruned`` (a flood of junk must not fill the disk; ids only grow)."""
        pruned = db.execute(
            "DELETE FROM quarantine WHERE id <= (SELECT max(id) FROM quarantine) - ?", (self.quarantine_max,)
        ).rowcount
        if pruned > 0:
            db.execute(
                "INSERT INTO meta (key, value) VALUES ('quarantine_pruned', ?) ON CONFLICT (key) DO UPDATE"
                " SET value = CAST(CAST(value AS INTEGER) + excluded.value AS TEXT)",
                (str(pruned),),
            )

    def quarantine_pruned(self) -> int:
        found = self.meta_get("quarantine_pruned")
        return int(found) if found and found.isdigit() else 0

    def _append(
        self, db: sqlite3.Connection, events: list[Incoming]
    ) -> tuple[list[Stored], dict[Stream, int]]:
        if not events:
            return [], {}
        max_seq = {st: self._known_max_seq(db, st) for st in {(e.agent, e.epoch) for e in events}}
        taken = self._already_stored(db, events, max_seq)
        pos, prev_hex = self._head
        prev = bytes.fromhex(prev_hex)
        rows: list[tuple[Any, ...]] = []
        stored: list[Stored] = []
        for e in events:
            if (e.agent, e.epoch, e.seq) in taken:
                continue
            taken.add((e.agent, e.epoch, e.seq))
            pos += 1
            digest = link(prev, e.body, e.received_ms, pos >= self._v2_from)
            hexed = digest.hex()
            rows.append(
                (
                    pos,
                    e.agent,
                    e.seq,
                    e.id,
                    e.kind,
                    e.ts,
                    e.received_ms,
                    e.body,
                    prev_hex,
                    hexed,
                    e.person,
                    e.band,
                    e.epoch,
                )
            )
            stored.append(
                Stored(pos, e.agent, e.seq, e.id, e.kind, e.ts, e.received_ms, e.body, hexed, e.epoch)
            )
            prev, prev_hex = digest, hexed
            if e.seq > max_seq[(e.agent, e.epoch)]:
                max_seq[(e.agent, e.epoch)] = e.seq
        db.executemany(_INSERT_EVENT, rows)
        return stored, max_seq

    def _known_max_seq(self, db: sqlite3.Connection, stream: Stream) -> int:
        if stream not in self._max_seq:
            row = db.execute("SELECT max(seq) FROM events WHERE agent = ? AND epoch = ?", stream).fetchone()
            self._max_seq[stream] = -1 if row[0] is None else int(row[0])
        return self._max_seq[stream]

    @staticmethod
    def _already_stored(
        db: sqlite3.Connection, events: list[Incoming], max_seq: dict[Stream, int]
    ) -> set[tuple[str, str, int]]:
        """``(agent, epoch, seq)`` of the batch already stored; only seqs <= the stream's max are asked."""
        doubtful: dict[Stream, list[int]] = {}
        for e in events:
            if e.seq <= max_seq[(e.agent, e.epoch)]:
                doubtful.setdefault((e.agent, e.epoch), []).append(e.seq)
        taken: set[tuple[str, str, int]] = set()
        for (agent, epoch), seqs in doubtful.items():
            for i in range(0, len(seqs), _IN_CHUNK):
                part = seqs[i : i + _IN_CHUNK]
                marks = ", ".join("?" * len(part))
                sql = f"SELECT seq FROM events WHERE agent = ? AND epoch = ? AND seq IN ({marks})"
                taken.update((agent, epoch, int(seq)) for (seq,) in db.execute(sql, (agent, epoch, *part)))
        return taken

    def meta_set(self, key: str, value: str) -> None:
        if key in _RESERVED_META:
            raise ValueError(f"meta key {key!r} is kept by the store itself")
        with self.locked() as db:
            db.execute(_UPSERT_META, (key, value))

    # reading ----------------------------------------------------------------------------------
    def head(self) -> tuple[int, str]:
        """``(pos, hash)`` of the last stored event; ``(0, GENESIS)`` when there is none."""
        return self._head

    def count(self) -> int:
        with self.reading() as db:
            return int(db.execute("SELECT count(*) FROM events").fetchone()[0])

    def read(self, after_pos: int = 0, limit: int = 10_000) -> list[Stored]:
        with self.reading() as db:
            rows = db.execute(
                f"SELECT {_COLUMNS} FROM events WHERE pos > ? ORDER BY pos LIMIT ?", (after_pos, limit)
            ).fetchall()
        return [_stored(row) for row in rows]

    def iterate(self, after_pos: int = 0, chunk: int = 10_000) -> Iterator[Stored]:
        """Every event after ``after_pos`` in ``pos`` order, ``chunk`` rows in memory at a time.

        The lock is held per chunk only, so ingest goes on; events appended meanwhile are included.
        """
        while rows := self.read(after_pos, chunk):
            yield from rows
            after_pos = rows[-1].pos

    def streams(self) -> dict[Stream, StreamMark]:
        """Every (agent, epoch) stream with its next expected and highest stored seq."""
        with self.reading() as db:
            rows = db.execute(
                "SELECT agent, epoch, next_expected, highest, last_received_ms FROM agent_streams"
            ).fetchall()
        return {(str(a), str(e)): StreamMark(int(n), int(h), r) for a, e, n, h, r in rows}

    def stream_next(self) -> dict[Stream, int]:
        return {stream: mark.next_expected for stream, mark in self.streams().items()}

    def quarantine_counts(self) -> dict[str, int]:
        with self.reading() as db:
            return {
                str(c): int(n) for c, n in db.execute("SELECT code, count(*) FROM quarantine GROUP BY code")
            }

    def quarantine_rows(self, limit: int = 100, code: str | None = None) -> list[dict[str, Any]]:
        """The newest quarantined messages first, as column dicts (``raw`` is bytes)."""
        where, params = ("WHERE code = ?", [code]) if code is not None else ("", [])
        with self.reading() as db:
            return list(
                Database(db, recursive_triggers=False, execute_plugins=False).query(
                    f"SELECT * FROM quarantine {where} ORDER BY id DESC LIMIT ?", [*params, limit]
                )
            )

    def gaps(self, agent: str | None = None) -> list[SeqGap]:
        where, params = ("WHERE agent = ?", (agent,)) if agent is not None else ("", ())
        with self.reading() as db:
            rows = db.execute(
                f'SELECT agent, "first", "last", detected_ms, epoch FROM gaps {where} ORDER BY id', params
            ).fetchall()
        return [SeqGap(str(a), int(f), int(la), int(d), str(e)) for a, f, la, d, e in rows]

    def meta_get(self, key: str) -> str | None:
        with self.reading() as db:
            row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    # verification -----------------------------------------------------------------------------
    def verify(
        self,
        progress: Callable[[int], None] | None = None,
        *,
        chunk: int = 10_000,
        keyring: Keyring | None = None,
        anchors: Sequence[AnchorPoint] = (),
    ) -> VerifyReport:
        """Walk the chain from row 1 and name the first broken row; memory stays at ``chunk`` rows.

        Runs on a read-only connection of its own inside one read transaction, so it sees one
        consistent snapshot (rows and recorded head together) while ingest goes on writing.
        ``progress`` is called with the number of rows checked after each chunk; with ``keyring``
        every event's signature is checked again; ``anchors`` are heads kept outside the store.
        """
        if self._memory:
            with self.locked() as db:
                return verify_chain(db, progress, chunk, keyring=keyring, anchors=anchors)
        try:
            conn = sqlite3.connect(self.path.resolve().as_uri() + "?mode=ro", uri=True, isolation_level=None)
        except sqlite3.Error as exc:
            raise StoreError(f"store {self.path}: cannot open for verify: {exc}") from exc
        try:
            conn.execute("BEGIN")
            return verify_chain(conn, progress, chunk, keyring=keyring, anchors=anchors)
        except sqlite3.Error as exc:
            raise StoreError(f"store {self.path}: {exc}") from exc
        finally:
            conn.close()

    def close(self) -> None:
        self._readers.close()
        with self._lock:
            self._db.close()

    def __enter__(self) -> HubStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _quarantine_row(q: Quarantined) -> tuple[Any, ...]:
    """Every text cut too (a topic may be 64 KB of junk): the cap bounds bytes, not only rows."""
    topic = q.topic[:TEXT_LIMIT] if q.topic is not None else None
    agent = q.agent[:64] if q.agent is not None else None
    size = q.size if q.size is not None else len(q.raw)
    return (q.received_ms, topic, q.code[:64], q.reason[:TEXT_LIMIT], agent, size, bytes(q.raw[:RAW_LIMIT]))


def _stored(row: tuple[Any, ...]) -> Stored:
    pos, agent, seq, id_, kind, ts, received_ms, body, hash_, epoch = row
    return Stored(
        int(pos), str(agent), int(seq), str(id_), str(kind), int(ts), int(received_ms), bytes(body), hash_,
        str(epoch),
    )  # fmt: skip

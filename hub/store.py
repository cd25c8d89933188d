"""The hub's tamper-evident event store: an append-only, hash-chained log in SQLite (WAL) or
PostgreSQL (``hub.store_engines``).

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

On PostgreSQL each centre has a chain of its own (``chain`` = the centre's id, ``pos`` counted in
it, the head in ``chains``: ``hub.pg_schema``), so workers of different centres never wait on one
head; a batch of a multi-centre worker first checks that the worker still holds the centre's lease
(``lease``), and moves each head only from the position it built on, so a worker that lost a centre
writes nothing more to it. SQLite keeps one chain for the whole file.

One ``HubStore`` per store and process; its lock serialises the ingest, HTTP and rule threads.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal, TypeVar, cast

from hub.chain import (
    GENESIS,
    V2_META,
    AnchorPoint,
    VerifyReport,
    link,
    verify_chain,
)
from hub.chain_heads import ChainHeads
from hub.errors import LeaseLost, StoreError
from hub.sql import Dialect, Sql
from hub.store_engines import Engine, PostgresEngine, SqliteEngine
from hub.store_reads import StoreReads
from hub.store_types import (
    QUARANTINE_MAX,
    RAW_LIMIT,
    Batch,
    Incoming,
    Quarantined,
    SeqGap,
    Stored,
    Stream,
    StreamMark,
    quarantine_row,
)
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
_RESERVED_META = ("head_pos", "head_hash", "head_mismatch", V2_META, "quarantine_pruned")
_IN_CHUNK = 500  # seqs per ``IN (...)`` lookup, well under SQLite's variable limit
_COLUMNS = "pos, agent, seq, id, kind, ts, received_ms, body, hash, epoch"
_EVENT_COLUMNS = "pos, agent, seq, id, kind, ts, received_ms, body, prev_hash, hash, person, band, epoch"
_INSERT_EVENT = f"INSERT INTO events ({_EVENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
_INSERT_CHAINED = (
    f"INSERT INTO events (chain, {_EVENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_QUARANTINE = (
    "INSERT INTO quarantine (received_ms, topic, code, reason, agent, size, raw) VALUES (?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_GAP = 'INSERT INTO gaps (agent, epoch, "first", "last", detected_ms) VALUES (?, ?, ?, ?, ?)'
_UPSERT_META = (
    "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value"
)


def _later(column: str) -> str:
    """The larger of the stored and the new value, either of which may be NULL (portable SQL)."""
    old, new = f"agent_streams.{column}", f"excluded.{column}"
    return f"CASE WHEN {old} IS NULL OR {new} > {old} THEN coalesce({new}, {old}) ELSE {old} END"


# highest, last_ts, last_received_ms only move forward, and stay as they were without an event
_UPSERT_STREAM = f"""
    INSERT INTO agent_streams (agent, epoch, next_expected, highest, last_ts, last_received_ms)
    VALUES (?, ?, ?, ?, ?, ?)
    ON CONFLICT (agent, epoch) DO UPDATE SET
        next_expected = excluded.next_expected,
        highest = {_later("highest")},
        last_ts = {_later("last_ts")},
        last_received_ms = {_later("last_received_ms")}
"""


class HubStore(StoreReads):
    def __init__(
        self,
        path: Path | str | None = None,
        *,
        synchronous: Literal["FULL", "NORMAL"] = "FULL",
        quarantine_max: int = QUARANTINE_MAX,
        dsn: str | None = None,
        chain: str = "",
        schema: str | None = None,
        lease: tuple[str, str] | None = None,
    ) -> None:
        """A SQLite file at ``path``, or the PostgreSQL database at ``dsn`` (tables in ``schema``)
        whose chain ``chain`` (the centre's id) takes events that name no centre."""
        if synchronous not in ("FULL", "NORMAL"):
            raise ValueError(f"synchronous must be FULL or NORMAL, got {synchronous!r}")
        if (path is None) == (dsn is None):
            raise ValueError("a store is a SQLite path or a PostgreSQL dsn, one of the two")
        self.quarantine_max = quarantine_max
        self._lock = threading.Lock()
        self.writer: Callable[[Callable[[], Any]], Any] | None = None
        """Runs a write on the store's one writer thread (the hub's ingest); unset: inline."""
        self._max_seq: dict[Stream, int] = {}  # per stream, loaded on first sight: skips most lookups
        self.engine: Engine = (
            PostgresEngine(dsn, schema) if dsn is not None else SqliteEngine(cast(str, path), synchronous)
        )
        self.path = Path(path) if path is not None else None
        self.where = self.engine.where
        self.chained = self.engine.chains_per_centre
        self.default_chain = chain if self.chained else ""
        self.heads = ChainHeads(self.chained, self.where)
        self.lease = lease if self.chained else None
        """``(centre, worker)``: every batch first checks, in its transaction, that the worker still
        holds the centre's lease (``hub.lease_table``) and holds the lease row until it commits, so
        a worker that lost the centre writes nothing more, and a take waits for its last batch."""
        try:
            if not self.chained:
                self.heads.open_sqlite(self.engine.writer())
        except BaseException as exc:
            self.engine.close()
            if isinstance(exc, self.engine.errors):
                raise StoreError(f"store {self.where}: {exc}") from exc
            raise

    @property
    def dialect(self) -> Dialect:
        return self.engine.dialect

    def forget_chain(self, chain: str) -> None:
        """Read ``chain``'s head from the database before writing it again."""
        self.heads.forget(chain)

    # plumbing ---------------------------------------------------------------------------------
    @contextmanager
    def locked(self) -> Iterator[Any]:
        with self._lock:
            try:
                yield self.engine.writer()
            except self.engine.errors as exc:
                raise StoreError(f"store {self.where}: {exc}") from exc

    def on_writer(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` (which writes) where the store's writes happen: the hub's ingest thread when
        one runs (so other threads' writes queue behind its batches), else here."""
        runner = self.writer
        return fn() if runner is None else cast(T, runner(fn))

    @contextmanager
    def reading(self) -> Iterator[Any]:
        """A connection of the calling thread's own: readers (API, console, reports, the notifier)
        never wait for the writer's lock (hub/read_connections.py)."""
        if self.engine.memory:
            with self.locked() as db:
                yield db
            return
        try:
            with self.engine.reading() as db:
                yield db
        except self.engine.errors as exc:
            raise StoreError(f"store {self.where}: {exc}") from exc

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        with self._lock:
            try:
                with self.engine.transaction() as db:
                    yield db
            except self.engine.errors as exc:
                raise StoreError(f"store {self.where}: {exc}") from exc

    # writing ----------------------------------------------------------------------------------
    def write(self, batch: Batch) -> list[Stored]:
        """Commit a whole batch in one transaction; return the events stored, in ``pos`` order
        (per chain, in the order of the batch).

        An event whose ``(agent, epoch, seq)`` is already stored (or earlier in the batch) is
        skipped. ``agent_streams`` is upserted for the streams in ``batch.streams``; its
        ``highest``, ``last_ts`` and ``last_received_ms`` only move forward.
        """
        if not (batch.events or batch.quarantined or batch.gaps or batch.streams):
            return []
        heads: dict[str, tuple[int, str]] = {}
        try:
            with self.transaction() as db:
                self._check_lease(db)
                stored, max_seq, rows = self._append(db, batch.events, heads)
                self.heads.record(db, heads)  # first: it locks each chain's head row till commit
                for chained_rows in rows.values():
                    db.executemany(_INSERT_CHAINED if self.chained else _INSERT_EVENT, chained_rows)
                self._write_rest(db, batch, stored, max_seq)
        except BaseException:
            # a batch that failed may still have committed (a connection lost during COMMIT), and
            # another writer may have stored more: what this store knew of the chains and of each
            # stream's highest seq is read again from the database before the retry
            for chain in heads:
                self.forget_chain(chain)
            for event in batch.events:
                self._max_seq.pop((event.agent, event.epoch), None)
            raise
        # committed: only now does the in-memory state move on
        self.heads.committed(heads)
        self._max_seq.update(max_seq)
        return stored

    def _check_lease(self, db: Sql) -> None:
        if self.lease is None:
            return
        centre, worker = self.lease
        held = db.execute(
            "SELECT 1 FROM casewatch.leases WHERE center = ? AND owner = ?"
            " AND expires_ms > (extract(epoch from clock_timestamp()) * 1000)::bigint FOR SHARE",
            (centre, worker),
        ).fetchone()
        if held is None:
            raise LeaseLost(
                f"store {self.where}: worker {worker} no longer holds centre {centre}: batch not stored"
            )

    def _write_rest(self, db: Sql, batch: Batch, stored: list[Stored], max_seq: dict[Stream, int]) -> None:
        if batch.quarantined:
            db.executemany(_INSERT_QUARANTINE, [quarantine_row(q) for q in batch.quarantined])
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

    def _cap_quarantine(self, db: Sql) -> None:
        """Oldest refused messages go first past ``quarantine_max`` rows; how many is counted in
        ``meta.quarantine_pruned`` (a flood of junk must not fill the disk; ids only grow)."""
        pruned = db.execute(
            "DELETE FROM quarantine WHERE id <= (SELECT max(id) FROM quarantine) - ?", (self.quarantine_max,)
        ).rowcount
        if pruned > 0:
            db.execute(
                "INSERT INTO meta (key, value) VALUES ('quarantine_pruned', ?) ON CONFLICT (key) DO UPDATE"
                " SET value = CAST(CAST(meta.value AS BIGINT) + CAST(excluded.value AS BIGINT) AS TEXT)",
                (str(pruned),),
            )

    def quarantine_pruned(self) -> int:
        found = self.meta_get("quarantine_pruned")
        return int(found) if found and found.isdigit() else 0

    def _chain_of(self, event: Incoming) -> str:
        return (event.center or self.default_chain) if self.chained else ""

    def _append(
        self, db: Sql, events: list[Incoming], heads: dict[str, tuple[int, str]]
    ) -> tuple[list[Stored], dict[Stream, int], dict[str, list[tuple[Any, ...]]]]:
        """The rows to insert per chain, linked from each chain's head (``heads`` moves on)."""
        if not events:
            return [], {}, {}
        max_seq = {st: self._known_max_seq(db, st) for st in {(e.agent, e.epoch) for e in events}}
        taken = self._already_stored(db, events, max_seq)
        rows: dict[str, list[tuple[Any, ...]]] = {}
        stored: list[Stored] = []
        for e in events:
            if (e.agent, e.epoch, e.seq) in taken:
                continue
            taken.add((e.agent, e.epoch, e.seq))
            chain = self._chain_of(e)
            if chain not in heads:
                heads[chain] = self.heads.of(db, chain)
            pos, prev_hex = heads[chain]
            pos += 1
            hexed = link(bytes.fromhex(prev_hex), e.body, e.received_ms, pos >= self.heads.v2_from).hex()
            row = (
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
            rows.setdefault(chain, []).append((chain, *row) if self.chained else row)
            stored.append(
                Stored(pos, e.agent, e.seq, e.id, e.kind, e.ts, e.received_ms, e.body, hexed, e.epoch)
            )
            heads[chain] = (pos, hexed)
            if e.seq > max_seq[(e.agent, e.epoch)]:
                max_seq[(e.agent, e.epoch)] = e.seq
        return stored, max_seq, rows

    def _known_max_seq(self, db: Sql, stream: Stream) -> int:
        if stream not in self._max_seq:
            row = db.execute("SELECT max(seq) FROM events WHERE agent = ? AND epoch = ?", stream).fetchone()
            self._max_seq[stream] = -1 if row[0] is None else int(row[0])
        return self._max_seq[stream]

    @staticmethod
    def _already_stored(
        db: Sql, events: list[Incoming], max_seq: dict[Stream, int]
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

    # verification -----------------------------------------------------------------------------
    def verify(
        self,
        progress: Callable[[int], None] | None = None,
        *,
        chunk: int = 10_000,
        keyring: Keyring | None = None,
        anchors: Sequence[AnchorPoint] = (),
        chain: str | None = None,
    ) -> VerifyReport:
        """Walk a chain from row 1 and name the first broken row; memory stays at ``chunk`` rows.

        Runs on a read-only connection of its own inside one read transaction, so it sees one
        consistent snapshot (rows and recorded head together) while ingest goes on writing.
        ``progress`` is called with the number of rows checked after each chunk; with ``keyring``
        every event's signature is checked again; ``anchors`` are heads kept outside the store.
        ``chain``: the centre's chain on PostgreSQL (default: the store's own).
        """
        name = (self.default_chain if chain is None else chain) if self.chained else None
        try:
            if self.engine.memory:
                with self.locked() as db:
                    return verify_chain(db, progress, chunk, keyring=keyring, anchors=anchors)
            with self.engine.snapshot() as conn:
                return verify_chain(conn, progress, chunk, keyring=keyring, anchors=anchors, chain=name)
        except self.engine.errors as exc:
            raise StoreError(f"store {self.where}: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            self.engine.close()

    def __enter__(self) -> HubStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

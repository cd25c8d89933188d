"""What the store's readers ask of the log: events by position, streams, quarantine, gaps, meta.

A base of ``hub.store.HubStore``, kept apart from the writing: every method reads on the calling
thread's own connection (``reading``), never under the writer's lock.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import Any

from hub.chain import GENESIS
from hub.chain_heads import ChainHeads
from hub.store_types import SeqGap, Stored, Stream, StreamMark, stored_row

_COLUMNS = "pos, agent, seq, id, kind, ts, received_ms, body, hash, epoch"


class StoreReads:
    chained: bool
    default_chain: str
    heads: ChainHeads

    def reading(self) -> AbstractContextManager[Any]:
        raise NotImplementedError

    # reading ----------------------------------------------------------------------------------
    def head(self, chain: str | None = None) -> tuple[int, str]:
        """``(pos, hash)`` of the last stored event of ``chain`` (default: the store's own chain);
        ``(0, GENESIS)`` when there is none."""
        chain = self.default_chain if chain is None or not self.chained else chain
        known = self.heads.last.get(chain)
        if known is not None:
            return known
        where, args = self._chain_filter(chain)
        with self.reading() as db:
            row = db.execute(
                f"SELECT pos, hash FROM events WHERE {where}1 = 1 ORDER BY pos DESC LIMIT 1", args
            ).fetchone()
        return (int(row[0]), str(row[1])) if row else (0, GENESIS)

    def _chain_filter(self, chain: str | None) -> tuple[str, tuple[str, ...]]:
        if not self.chained:
            return "", ()
        return "chain = ? AND ", (self.default_chain if chain is None else chain,)

    def count(self) -> int:
        with self.reading() as db:
            return int(db.execute("SELECT count(*) FROM events").fetchone()[0])

    def read(self, after_pos: int = 0, limit: int = 10_000, chain: str | None = None) -> list[Stored]:
        where, args = self._chain_filter(chain)
        with self.reading() as db:
            rows = db.execute(
                f"SELECT {_COLUMNS} FROM events WHERE {where}pos > ? ORDER BY pos LIMIT ?",
                (*args, after_pos, limit),
            ).fetchall()
        return [stored_row(row) for row in rows]

    def iterate(self, after_pos: int = 0, chunk: int = 10_000, chain: str | None = None) -> Iterator[Stored]:
        """Every event after ``after_pos`` in ``pos`` order, ``chunk`` rows in memory at a time.

        The lock is held per chunk only, so ingest goes on; events appended meanwhile are included.
        """
        while rows := self.read(after_pos, chunk, chain):
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
            cursor = db.execute(
                f"SELECT * FROM quarantine {where} ORDER BY id DESC LIMIT ?", [*params, limit]
            )
            names = [column[0] for column in cursor.description]
            return [
                {**dict(zip(names, row, strict=True)), "raw": bytes(row[names.index("raw")])}
                for row in cursor
            ]

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

    def chains(self) -> list[str]:
        """The chains of the store: each centre's on PostgreSQL, ``[""]`` on SQLite."""
        if not self.chained:
            return [""]
        with self.reading() as db:
            return [str(c) for (c,) in db.execute("SELECT chain FROM chains ORDER BY chain")]

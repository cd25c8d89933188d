"""Where each hash chain of a store stands: the last row the next one links to, and the head the
store recorded — kept in memory between batches, read from the database when unknown.

SQLite has one chain; its recorded head is ``meta.head_pos``/``head_hash``, written with every
batch. PostgreSQL has one chain per centre; its recorded head is the centre's ``chains`` row,
moved by a batch only from the position that batch was built on (a second guard behind the
lease, ``hub.store``). A head that disagrees with the table when first read (a tail cut while
the hub was down) is written down as ``head_mismatch`` at once — later batches overwrite the head,
and ``verify`` must still name the cut.
"""

from __future__ import annotations

import json
import time

from hub.chain import GENESIS, V2_META, head_problem, recorded_head, v2_from
from hub.errors import StoreError
from hub.sql import Sql

_UPSERT_META = (
    "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value"
)
_MOVE_HEAD = "UPDATE chains SET head_pos = ?, head_hash = ? WHERE chain = ? AND head_pos = ?"

Head = tuple[int, str]


class ChainHeads:
    def __init__(self, chained: bool, where: str) -> None:
        self.chained = chained
        self.where = where
        self.last: dict[str, Head] = {}
        """Per chain: the last row's (pos, hash), what the next row links to."""
        self._recorded: dict[str, int] = {}
        """Per chain (PostgreSQL): ``chains.head_pos`` as this store last wrote or read it."""
        self.v2_from = 1

    def open_sqlite(self, db: Sql) -> None:
        """SQLite's one chain at open: its head, where v2 links begin, a mismatch noted."""
        self.load(db, "")
        meta = dict(db.execute("SELECT key, value FROM meta WHERE key = ?", (V2_META,)))
        self.v2_from, _ = v2_from(meta, True)  # unreadable: v1 links; verify names the meta row
        found = dict(db.execute("SELECT key, value FROM meta WHERE key IN ('head_pos', 'head_hash')"))
        recorded = recorded_head(found)
        if recorded is not None:
            note = _note(db, recorded, self.last[""][0], "")
            if note is not None:
                db.execute(
                    "INSERT INTO meta (key, value) VALUES ('head_mismatch', ?) ON CONFLICT DO NOTHING",
                    (note,),
                )

    def load(self, db: Sql, chain: str) -> Head:
        """A chain's last row (and on PostgreSQL its recorded head), read when first written or
        after a failed batch (which may have committed after all, or another writer moved it)."""
        if not self.chained:
            row = db.execute("SELECT pos, hash FROM events ORDER BY pos DESC LIMIT 1").fetchone()
            self.last[""] = (int(row[0]), str(row[1])) if row else (0, GENESIS)
            return self.last[""]
        row = db.execute(
            "SELECT pos, hash FROM events WHERE chain = ? ORDER BY pos DESC LIMIT 1", (chain,)
        ).fetchone()
        head = (int(row[0]), str(row[1])) if row else (0, GENESIS)
        db.execute(
            "INSERT INTO chains (chain, head_pos, head_hash) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
            (chain, *head),
        )
        recorded = db.execute("SELECT head_pos, head_hash FROM chains WHERE chain = ?", (chain,)).fetchone()
        note = _note(db, (int(recorded[0]), str(recorded[1])), head[0], chain)
        if note is not None:
            db.execute(
                "UPDATE chains SET head_mismatch = ? WHERE chain = ? AND head_mismatch IS NULL", (note, chain)
            )
        self.last[chain], self._recorded[chain] = head, int(recorded[0])
        return head

    def of(self, db: Sql, chain: str) -> Head:
        known = self.last.get(chain)
        return known if known is not None else self.load(db, chain)

    def record(self, db: Sql, moved: dict[str, Head]) -> None:
        """Each chain's new head, in the batch's transaction: SQLite's in ``meta``; PostgreSQL's
        moved only from the position this batch built on (else another writer moved it: fail)."""
        for chain, (pos, hash_) in moved.items():
            if not self.chained:
                db.executemany(_UPSERT_META, [("head_pos", str(pos)), ("head_hash", hash_)])
                continue
            if db.execute(_MOVE_HEAD, (pos, hash_, chain, self._recorded[chain])).rowcount != 1:
                raise StoreError(
                    f"store {self.where}: the chain of centre {chain!r} was written by another worker"
                    " meanwhile (two workers own it?): batch not stored"
                )

    def committed(self, moved: dict[str, Head]) -> None:
        self.last.update(moved)
        self._recorded.update({chain: pos for chain, (pos, _hash) in moved.items()})

    def forget(self, chain: str) -> None:
        """Read ``chain``'s head from the database before writing it again."""
        self.last.pop(chain, None)
        self._recorded.pop(chain, None)


def _note(db: Sql, recorded: Head, last_pos: int, chain: str) -> str | None:
    """A head that disagrees with the table at open, as the note kept for ``verify``."""
    where = " AND chain = ?" if chain else ""
    row = db.execute(
        f"SELECT hash FROM events WHERE pos = ?{where}", (recorded[0], *([chain] if chain else []))
    ).fetchone()
    problem = head_problem(recorded, last_pos, None if row is None else str(row[0]))
    if problem is None:
        return None
    seen = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime())
    return json.dumps({"first_broken": problem[0], "reason": f"{problem[1]}; seen at open {seen}"})

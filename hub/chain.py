"""The hash chain of the event log, and its check: what ``casewatch hub verify`` runs.

Two link formats (``hub.store``), chosen by chain position against ``meta.chain_v2_from``::

    v1 (rows before chain_v2_from):  hash(n) = sha256(prev(n) + body(n))
    v2 (from chain_v2_from on):      hash(n) = sha256(prev(n) + body(n) + received_ms(n) as 8 bytes,
                                                      big-endian, signed)

``prev(1)`` = 32 zero bytes. v2 covers the hub's arrival time too, the one stored column that is
not in the signed body. Every other column (agent, seq, id, kind, ts, epoch, person, band) is a
copy of a field of the body: the walk parses each body and compares, so an edited column is named
even though the hash does not cover it. With the agents' keys (``keyring``) each body's signature
is checked again, so a row written with a recomputed chain but without an agent's key is named.

The walk is in constant memory and names the first row that is missing, out of order, or does
not check out. The head recorded in ``meta`` with every batch catches a truncated tail; an
*anchor* — the head signed with the hub's key and kept outside the store (``hub.anchor``) —
catches what the store alone cannot: a recomputed chain, or a cut tail with the head rewritten.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from hub.chain_streams import StreamCoverage
from hub.sql import Sql, stream
from protocol.errors import ProtocolError
from protocol.signing import SIG_FIELD, Keyring

GENESIS = "0" * 64
"""``prev_hash`` of row 1."""
V2_META = "chain_v2_from"


def link(prev: bytes, body: bytes, received_ms: int, v2: bool) -> bytes:
    """The raw sha256 of one row given the previous row's raw hash."""
    data = prev + body
    if v2:
        data += received_ms.to_bytes(8, "big", signed=True)
    return hashlib.sha256(data).digest()


@dataclass(frozen=True)
class AnchorPoint:
    """A head kept outside the store: the hash row ``pos`` had when it was signed."""

    pos: int
    hash: str
    source: str
    """Where it came from, for the report (``report 2026-12-02``, ``agent box-01``, a file)."""


@dataclass(frozen=True)
class VerifyReport:
    """``rows``: rows checked intact from row 1 on (all when ``ok``); ``head``: the last one's hash.

    ``first_broken`` is the first chain position that is missing or does not check out, or the
    position after the end when rows recorded as written are gone from the tail.
    """

    ok: bool
    rows: int
    first_broken: int | None
    reason: str | None
    head: str
    anchors_checked: int = 0
    signatures_checked: int = 0


def recorded_head(meta: dict[str, str]) -> tuple[int, str] | None:
    """``(head_pos, head_hash)`` from ``meta``; an unreadable one as position -1."""
    if "head_pos" not in meta:
        return None
    try:
        return int(meta["head_pos"]), meta.get("head_hash", "")
    except ValueError:
        return -1, ""


def head_problem(
    recorded: tuple[int, str], last_pos: int, hash_at_recorded: str | None
) -> tuple[int, str] | None:
    """What is wrong between the head recorded in ``meta`` and the table as it is, if anything."""
    recorded_pos, recorded_hash = recorded
    if recorded_pos < 0:
        return 1, "the recorded head in meta is unreadable (edited?)"
    if last_pos < recorded_pos:
        return last_pos + 1, f"rows after {last_pos} are missing (recorded head {recorded_pos})"
    if recorded_pos > 0 and hash_at_recorded != recorded_hash:
        return recorded_pos, f"row {recorded_pos}: hash differs from the recorded head (edited?)"
    if last_pos > recorded_pos:
        return recorded_pos + 1, (
            f"row {recorded_pos + 1} is past the recorded head {recorded_pos} (written outside casewatch?)"
        )
    return None


def v2_from(meta: dict[str, str], has_v2: bool) -> tuple[int, tuple[int, str] | None]:
    """The first v2 position (a store from before v2 has none: every row is v1), or a problem."""
    if not has_v2:
        return 2**62, None
    try:
        first = int(meta[V2_META])
    except (KeyError, ValueError):
        return 2**62, (1, f"meta {V2_META} is missing or unreadable (edited?)")
    return (first, None) if first >= 1 else (2**62, (1, f"meta {V2_META} = {first} (edited?)"))


_ROW = "pos, prev_hash, hash, body, received_ms, agent, seq, id, kind, ts, epoch, person, band"


@dataclass
class _Walk:
    """State carried from row to row."""

    conn: Sql
    chain: str | None
    first_v2: int
    recorded: tuple[int, str] | None
    keyring: Keyring | None
    wanted: frozenset[int]
    rows: int = 0
    prev: str = GENESIS
    signatures: int = 0
    doc: dict[str, Any] = field(default_factory=dict)
    """The last row's parsed body."""
    coverage: StreamCoverage = field(default_factory=StreamCoverage)


def _chain_meta(conn: Sql, chain: str | None) -> dict[str, str]:
    """What the walk needs of the recorded head: SQLite's ``meta`` rows; a PostgreSQL chain's
    ``chains`` row (v2 links from row 1) in the same shape."""
    names = ("head_pos", "head_hash", "head_mismatch", V2_META)
    if chain is None:
        marks = ",".join("?" * len(names))
        return dict(conn.execute(f"SELECT key, value FROM meta WHERE key IN ({marks})", names))
    row = conn.execute(
        "SELECT head_pos, head_hash, head_mismatch FROM chains WHERE chain = ?", (chain,)
    ).fetchone()
    meta = {V2_META: "1"}
    if row is not None:
        meta |= {"head_pos": str(row[0]), "head_hash": str(row[1])}
        meta |= {"head_mismatch": str(row[2])} if row[2] is not None else {}
    return meta


def _in_chain(chain: str | None) -> tuple[str, tuple[str, ...]]:
    return (" AND chain = ?", (chain,)) if chain is not None else ("", ())


def verify_chain(
    conn: Sql,
    progress: Callable[[int], None] | None,
    chunk: int,
    *,
    has_v2: bool = True,
    keyring: Keyring | None = None,
    anchors: Sequence[AnchorPoint] = (),
    chain: str | None = None,
) -> VerifyReport:
    """Walk one chain (``chain``: a PostgreSQL centre's; None: SQLite's one chain) from row 1."""
    meta = _chain_meta(conn, chain)
    recorded = recorded_head(meta)
    first_v2, problem = v2_from(meta, has_v2)
    wanted = frozenset(a.pos for a in anchors) | ({recorded[0]} if recorded else set())
    walk = _Walk(conn, chain, first_v2, recorded, keyring, wanted)
    seen: dict[int, str] = {}
    where, args = _in_chain(chain)
    cursor = stream(conn, f"SELECT {_ROW} FROM events WHERE 1 = 1{where} ORDER BY pos", args)
    while problem is None and (batch := cursor.fetchmany(chunk)):
        for row in batch:
            problem = _check_row(walk, row)
            if problem is not None:
                break
            walk.rows, walk.prev = row[0], row[2]
            walk.coverage.row(str(row[5]), str(row[10]), int(row[6]), row[0], walk.doc)
            if row[0] in wanted:
                seen[row[0]] = row[2]
        if progress is not None:
            progress(walk.rows)
    cursor.close()
    if problem is None and recorded is not None:
        problem = head_problem(recorded, walk.rows, seen.get(recorded[0]))
    if problem is None and recorded is None and walk.rows:  # every batch records it: deleted
        problem = walk.rows + 1, "the head recorded in meta is missing: the tail cannot be checked (deleted?)"
    if problem is None:
        holes = walk.coverage.holes(_complete_to(conn))
        problem = holes[0] if holes else None
    problem = _earliest(problem, _noted_mismatch(meta), _anchors_problem(anchors, walk.rows, seen))
    if problem is None:
        return VerifyReport(True, walk.rows, None, None, walk.prev, len(anchors), walk.signatures)
    rows, prev = walk.rows, walk.prev
    if rows >= problem[0]:  # a head, anchor or open-time problem inside the walked rows: the prefix
        rows = problem[0] - 1
        found = conn.execute(f"SELECT hash FROM events WHERE pos = ?{where}", (rows, *args)).fetchone()
        prev = str(found[0]) if found else GENESIS
    return VerifyReport(False, rows, problem[0], problem[1], prev, len(anchors), walk.signatures)


def _complete_to(conn: Sql) -> dict[tuple[str, str], int]:
    """Per stream, the number below which the hub recorded everything stored or announced lost."""
    try:
        rows = conn.execute("SELECT agent, epoch, next_expected FROM agent_streams").fetchall()
    except sqlite3.OperationalError:  # a store from before streams (schema < 6): not checked
        return {}
    return {(str(a), str(e)): int(n) - 1 for a, e, n in rows if isinstance(n, int)}


def _earliest(*problems: tuple[int, str] | None) -> tuple[int, str] | None:
    found = [p for p in problems if p is not None]
    return min(found, key=lambda p: p[0]) if found else None


def _noted_mismatch(meta: dict[str, str]) -> tuple[int, str] | None:
    if "head_mismatch" not in meta:
        return None
    try:
        seen = json.loads(meta["head_mismatch"])
        return int(seen["first_broken"]), str(seen["reason"])
    except (ValueError, TypeError, KeyError):
        return 1, f"meta head_mismatch is unreadable (edited?): {meta['head_mismatch']!r}"


def _anchors_problem(
    anchors: Sequence[AnchorPoint], last_pos: int, seen: dict[int, str]
) -> tuple[int, str] | None:
    """The first anchor the log no longer agrees with. A recomputed chain checks out row by row,
    so the rewritten rows can only be bounded: after the last anchor that still agrees."""
    agreed = 0
    for anchor in sorted(anchors, key=lambda a: a.pos):
        if anchor.pos > last_pos:
            return last_pos + 1, (
                f"rows after {last_pos} are missing: the anchor from {anchor.source} names row {anchor.pos}"
            )
        if seen.get(anchor.pos) != anchor.hash:
            return agreed + 1, (
                f"rows {agreed + 1}–{anchor.pos} were rewritten after the anchor from {anchor.source}: "
                f"row {anchor.pos}'s hash differs from it (chain recomputed?)"
            )
        agreed = anchor.pos
    return None


def _check_row(walk: _Walk, row: tuple[Any, ...]) -> tuple[int, str] | None:
    """The problem of one row given the previous row's hash, or None."""
    pos, prev_hash, hash_, body, received_ms = row[:5]
    expected = walk.rows + 1
    if pos != expected:
        return expected, (f"row {expected} is missing" if pos > expected else f"row {pos} is out of order")
    if prev_hash != walk.prev:
        previous = "the genesis value 0…0" if pos == 1 else f"row {pos - 1}'s hash"
        return pos, f"row {pos}: prev_hash does not match {previous} (edited?)"
    if isinstance(body, str):
        body = body.encode()
    try:
        computed = link(bytes.fromhex(prev_hash), body, received_ms, pos >= walk.first_v2).hex()
    except (TypeError, ValueError, OverflowError, AttributeError):
        return pos, f"row {pos}: prev_hash, body or received_ms has the wrong type or format (edited?)"
    if computed != hash_:
        return pos, _which_changed(walk, pos, computed, hash_)
    return _columns_problem(walk, row, body)


def _which_changed(walk: _Walk, pos: int, computed: str, hash_: Any) -> str:
    """The next row (or the recorded head) still carries the original hash: which of the two changed?"""
    where, args = _in_chain(walk.chain)
    found = walk.conn.execute(
        f"SELECT prev_hash FROM events WHERE pos = ?{where}", (pos + 1, *args)
    ).fetchone()
    recorded = walk.recorded
    successor = found[0] if found else (recorded[1] if recorded and recorded[0] == pos else None)
    if successor == computed:
        return f"row {pos}: its hash column was edited (the body still matches the chain)"
    if successor == hash_:
        covered = "body or received_ms" if pos >= walk.first_v2 else "body"
        return f"row {pos}: {covered} does not match its hash (edited?)"
    return f"row {pos}: body and hash do not match (edited?)"


def _columns_problem(walk: _Walk, row: tuple[Any, ...], body: bytes) -> tuple[int, str] | None:
    """Every column that copies a field of the body must still say what the body says."""
    pos = row[0]
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than any event is
        return pos, f"row {pos}: body is not JSON (edited?)"
    if not isinstance(doc, dict):
        return pos, f"row {pos}: body is not a JSON object (edited?)"
    walk.doc = doc
    found = doc.get("subject")
    subject: dict[str, Any] = found if isinstance(found, dict) else {}
    expected = {
        "agent": doc.get("agent"), "seq": doc.get("seq"), "id": doc.get("id"), "kind": doc.get("kind"),
        "ts": doc.get("ts"), "epoch": doc.get("epoch") or "", "person": subject.get("person"),
        "band": subject.get("band"),
    }  # fmt: skip
    stored = dict(zip(("agent", "seq", "id", "kind", "ts", "epoch", "person", "band"), row[5:], strict=True))
    for column, value in expected.items():
        if stored[column] != value:
            said = f"column {column} is {stored[column]!r}, the signed event says {value!r}"
            return pos, f"row {pos}: {said} (edited?)"
    if walk.keyring is None:
        return None
    sig = doc.get(SIG_FIELD)
    try:
        if not isinstance(sig, str):
            raise ProtocolError("no sig")
        walk.keyring.verify_signed_canonical(body, sig, str(doc.get("agent")))
    except ProtocolError as exc:
        return pos, f"row {pos}: the signature does not check out ({exc}): forged, or the key changed?"
    walk.signatures += 1
    return None

"""The hash chain of the event log, checked: what ``casewatch hub verify`` runs.

``hash(n) = sha256(bytes.fromhex(prev_hash(n)) + body(n))``, ``prev_hash(1)`` = 64 zeros (see
``hub.store``). The walk is in constant memory and names the first row that is missing, out of
order, or does not check out, and says which column was edited when the next row tells; the head
recorded in ``meta`` with every batch catches a truncated tail.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

GENESIS = "0" * 64
"""``prev_hash`` of row 1."""


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


def verify_chain(
    conn: sqlite3.Connection, progress: Callable[[int], None] | None, chunk: int
) -> VerifyReport:
    meta = dict(
        conn.execute("SELECT key, value FROM meta WHERE key IN ('head_pos', 'head_hash', 'head_mismatch')")
    )
    recorded = recorded_head(meta)
    cursor = conn.execute("SELECT pos, prev_hash, hash, body FROM events ORDER BY pos")
    rows, prev, hash_at_recorded = 0, GENESIS, None
    problem: tuple[int, str] | None = None
    while problem is None and (batch := cursor.fetchmany(chunk)):
        for pos, prev_hash, hash_, body in batch:
            problem = _check_row(conn, rows + 1, prev, pos, prev_hash, hash_, body, recorded)
            if problem is not None:
                break
            rows, prev = pos, hash_
            if recorded is not None and pos == recorded[0]:
                hash_at_recorded = hash_
        if progress is not None:
            progress(rows)
    cursor.close()
    if problem is None and recorded is not None:
        problem = head_problem(recorded, rows, hash_at_recorded)
    if "head_mismatch" in meta:
        try:
            seen = json.loads(meta["head_mismatch"])
            noted = (int(seen["first_broken"]), str(seen["reason"]))
        except (ValueError, TypeError, KeyError):
            noted = (1, f"meta head_mismatch is unreadable (edited?): {meta['head_mismatch']!r}")
        if problem is None or noted[0] < problem[0]:
            problem = noted
    if problem is None:
        return VerifyReport(True, rows, None, None, prev)
    if rows >= problem[0]:  # a head or open-time problem inside the walked rows: report the prefix
        rows = problem[0] - 1
        row = conn.execute("SELECT hash FROM events WHERE pos = ?", (rows,)).fetchone()
        prev = str(row[0]) if row else GENESIS
    return VerifyReport(False, rows, problem[0], problem[1], prev)


def _check_row(
    conn: sqlite3.Connection,
    expected: int,
    prev: str,
    pos: Any,
    prev_hash: Any,
    hash_: Any,
    body: Any,
    recorded: tuple[int, str] | None,
) -> tuple[int, str] | None:
    """The problem of one row given the previous row's hash, or None."""
    if pos != expected:
        return expected, (f"row {expected} is missing" if pos > expected else f"row {pos} is out of order")
    if prev_hash != prev:
        previous = "the genesis value 0…0" if pos == 1 else f"row {pos - 1}'s hash"
        return pos, f"row {pos}: prev_hash does not match {previous} (edited?)"
    if isinstance(body, str):
        body = body.encode()
    try:
        computed = hashlib.sha256(bytes.fromhex(prev_hash) + body).hexdigest()
    except (TypeError, ValueError):
        return pos, f"row {pos}: prev_hash or body has the wrong type or format (edited?)"
    if computed == hash_:
        return None
    # Which of the two changed? The next row (or the recorded head) still carries the original hash.
    row = conn.execute("SELECT prev_hash FROM events WHERE pos = ?", (pos + 1,)).fetchone()
    successor = row[0] if row else (recorded[1] if recorded and recorded[0] == pos else None)
    if successor == computed:
        return pos, f"row {pos}: its hash column was edited (the body still matches the chain)"
    if successor == hash_:
        return pos, f"row {pos}: body does not match its hash (edited?)"
    return pos, f"row {pos}: body and hash do not match (edited?)"

"""Events for store tests, an independent check of the chain, and raw edits of a store file."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

from hub.store import (
    Incoming,
)

REPO = Path(__file__).resolve().parent.parent
BIG = 100_000


def event(
    agent: str, seq: int, *, kind: str = "occupancy", ts: int | None = None, received: int = 0
) -> Incoming:
    ts = 1_700_000_000_000 + seq if ts is None else ts
    body = json.dumps(
        {
            "agent": agent, "seq": seq, "id": f"{agent}-{seq}", "kind": kind, "ts": ts,
            "data": {"room": "r1", "count": seq % 3},
        },
        separators=(",", ":"),
        sort_keys=True,
    ).encode()  # fmt: skip
    return Incoming(agent, seq, f"{agent}-{seq}", kind, ts, received or ts + 5, body)


def events(agent: str, first: int, last: int) -> list[Incoming]:
    return [event(agent, seq) for seq in range(first, last + 1)]


def link_by_hand(prev_hash: str, body: bytes, received_ms: int, v2: bool = True) -> str:
    """The documented link formula (docs/hub.md), written out with hashlib alone."""
    tail = received_ms.to_bytes(8, "big", signed=True) if v2 else b""
    return hashlib.sha256(bytes.fromhex(prev_hash) + body + tail).hexdigest()


def chain_by_hand(path: Path) -> list[tuple[int, str, str]]:
    """(pos, prev_hash, hash) of every row, after checking them with hashlib alone."""
    conn = sqlite3.connect(path)
    rows = conn.execute("SELECT pos, prev_hash, hash, body, received_ms FROM events ORDER BY pos").fetchall()
    found = conn.execute("SELECT value FROM meta WHERE key = 'chain_v2_from'").fetchone()
    conn.close()
    first_v2 = int(found[0]) if found else 2**62
    prev = "0" * 64
    for expected_pos, (pos, prev_hash, hash_, body, received_ms) in enumerate(rows, start=1):
        assert (pos, prev_hash) == (expected_pos, prev)
        prev = link_by_hand(prev, body, received_ms, pos >= first_v2)
        assert hash_ == prev
    return [(pos, prev_hash, hash_) for pos, prev_hash, hash_, _, _ in rows]


def tamper(path: Path, sql: str, *params: object) -> None:
    conn = sqlite3.connect(path)
    with conn:
        assert conn.execute(sql, params).rowcount >= 1
    conn.close()

"""Versioned schema migrations of the hub store, and stores that must be refused."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlite_utils import Database

from hub.migrations import MIGRATIONS, Migration, latest_version, migrate
from hub.store import (
    Batch,
    HubStore,
    StoreError,
)
from tests.store_helpers import events


# migrations -----------------------------------------------------------------------------------
def test_a_new_store_is_at_the_latest_schema_and_reopening_migrates_nothing(tmp_path: Path) -> None:
    HubStore(tmp_path / "hub.db").close()
    conn = sqlite3.connect(tmp_path / "hub.db", isolation_level=None)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == latest_version() == MIGRATIONS[-1].version
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert migrate(conn, where="hub.db") == []
    conn.close()
    with HubStore(tmp_path / "hub.db") as store:  # v1 again would fail: its tables exist
        store.write(Batch(events=events("a", 1, 1)))
        assert store.verify().ok


def test_each_migration_runs_once_in_its_own_transaction(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "hub.db", isolation_level=None)
    runs: list[int] = []
    n = latest_version()

    def add_timers(db: Database) -> None:
        runs.append(n + 1)
        db.create_table("test_timers", {"id": str, "due_ms": int}, pk="id")

    def broken(db: Database) -> None:
        db.create_table("half_done", {"id": int}, pk="id")
        db.execute("INSERT INTO no_such_table VALUES (1)")

    plan = [*MIGRATIONS, Migration(n + 1, "timers", add_timers)]
    assert migrate(conn, where="hub.db", migrations=plan) == list(range(1, n + 2))
    assert migrate(conn, where="hub.db", migrations=plan) == [] and runs == [n + 1]
    with pytest.raises(StoreError, match=rf"migration v{n + 2} \(broken\) failed"):
        migrate(conn, where="hub.db", migrations=[*plan, Migration(n + 2, "broken", broken)])
    assert conn.execute("PRAGMA user_version").fetchone()[0] == n + 1
    tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "test_timers" in tables and "half_done" not in tables
    with pytest.raises(ValueError, match="without holes"):
        migrate(conn, where="hub.db", migrations=[*plan, Migration(n + 3, "skips one", add_timers)])
    conn.close()


def test_a_store_from_a_newer_casewatch_is_refused(tmp_path: Path) -> None:
    HubStore(tmp_path / "hub.db").close()
    newer = latest_version() + 2
    conn = sqlite3.connect(tmp_path / "hub.db")
    conn.execute(f"PRAGMA user_version = {newer}")
    conn.close()
    with pytest.raises(StoreError) as refused:
        HubStore(tmp_path / "hub.db")
    message = str(refused.value)
    assert f"schema v{newer} is newer than this casewatch (knows v{latest_version()})" in message
    assert "upgrade casewatch" in message and "hub.db" in message


def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "hub.db"
    path.write_bytes(b"these are not the bytes of an SQLite database, " * 100)
    with pytest.raises(StoreError, match=r"hub\.db is not a casewatch store: file is not a database"):
        HubStore(path)
    assert path.read_bytes().startswith(b"these are not")  # left as it was


def test_a_path_that_cannot_be_created_is_refused(tmp_path: Path) -> None:
    (tmp_path / "plain-file").write_text("x")
    with pytest.raises(StoreError, match="plain-file"):
        HubStore(tmp_path / "plain-file" / "hub.db")


def test_v4_fills_the_subject_columns_of_events_stored_before_it(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "hub.db", isolation_level=None)
    migrate(conn, where="hub.db", migrations=MIGRATIONS[:3])
    rows = [
        (1, '{"subject":{"person":"p1"},"kind":"record"}'),
        (2, '{"subject":{"band":"B0042"},"kind":"band.position"}'),
        (3, "not json at all"),  # a row v4 must not choke on
    ]
    for pos, body in rows:
        conn.execute(
            "INSERT INTO events (pos, agent, seq, id, kind, ts, received_ms, body, prev_hash, hash)"
            " VALUES (?, 'a', ?, ?, 'k', ?, 0, ?, '', '')",
            (pos, pos, f"id{pos}", pos, body.encode()),
        )
    assert migrate(conn, where="hub.db") == [4, *range(5, latest_version() + 1)]
    found = conn.execute("SELECT pos, person, band FROM events ORDER BY pos").fetchall()
    assert found == [(1, "p1", None), (2, None, "B0042"), (3, None, None)]
    plan = " ".join(
        str(r) for r in conn.execute("EXPLAIN QUERY PLAN SELECT body FROM events WHERE person = 'p1'")
    )
    assert "events_person" in plan
    conn.close()


def test_v7_starts_the_longer_link_after_the_rows_already_stored(tmp_path: Path) -> None:
    """A store from before v7 keeps its v1 links (sha256(prev + body)); new rows hash received_ms
    too. Both check out, with the documented formulas written out by hand."""
    from hub.store import Batch, HubStore
    from tests.store_helpers import chain_by_hand, event, events, link_by_hand

    conn = sqlite3.connect(tmp_path / "hub.db", isolation_level=None)
    migrate(conn, where="hub.db", migrations=MIGRATIONS[:6])
    prev = "0" * 64
    for e in events("box-01", 1, 3):  # as a v6 casewatch wrote them
        digest = link_by_hand(prev, e.body, e.received_ms, v2=False)
        conn.execute(
            "INSERT INTO events (pos, agent, seq, id, kind, ts, received_ms, body, prev_hash, hash, epoch)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '')",
            (e.seq, e.agent, e.seq, e.id, e.kind, e.ts, e.received_ms, e.body, prev, digest),
        )
        prev = digest
    conn.execute("INSERT INTO meta VALUES ('head_pos', '3'), ('head_hash', ?)", (prev,))
    conn.close()
    with HubStore(tmp_path / "hub.db") as store:
        assert store.meta_get("chain_v2_from") == "4"
        store.write(Batch(events=[event("box-02", seq) for seq in (1, 2, 3)]))
        report = store.verify()
    assert report.ok and report.rows == 6
    assert len(chain_by_hand(tmp_path / "hub.db")) == 6  # v1 for rows 1-3, v2 for 4-6

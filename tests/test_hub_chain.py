"""``HubStore.verify`` on a 100,000-event store: every kind of edit is named at its row."""

from __future__ import annotations

import shutil
import sqlite3
import time
from pathlib import Path

import pytest

from hub.store import (
    Batch,
    HubStore,
)
from tests.store_helpers import BIG, chain_by_hand, event, events, link_by_hand, tamper


# verify on a large store --------------------------------------------------------------------
@pytest.fixture(scope="module")
def big_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A closed 100,000-event store built the way ingest builds it (500-event batches)."""
    path = tmp_path_factory.mktemp("big") / "hub.db"
    store = HubStore(path, synchronous="NORMAL")
    agents = [f"box-{i:02d}" for i in range(4)]
    for first in range(1, BIG // 4 + 1, 125):
        store.write(
            Batch(events=[event(agent, seq) for seq in range(first, first + 125) for agent in agents])
        )
    assert store.head()[0] == BIG
    store.close()
    return path


@pytest.fixture
def big_copy(big_store: Path, tmp_path: Path) -> Path:
    path = tmp_path / "hub.db"
    shutil.copyfile(big_store, path)
    return path


def test_verify_walks_100k_rows_in_chunks(big_copy: Path) -> None:
    store = HubStore(big_copy)
    seen: list[int] = []
    started = time.perf_counter()
    report = store.verify(progress=seen.append)
    elapsed = time.perf_counter() - started
    assert report.ok and report.rows == BIG and report.head == store.head()[1]
    assert seen[-1] == BIG and len(seen) >= 10  # reported chunk by chunk
    assert elapsed < 5, f"verify took {elapsed:.1f} s"
    store.close()


def test_verify_names_a_single_edited_body(big_copy: Path) -> None:
    tamper(big_copy, "UPDATE events SET body = ? WHERE pos = ?", b'{"agent":"box-01","seq":1}', 47_111)
    report = HubStore(big_copy).verify()
    assert not report.ok and report.first_broken == 47_111 and report.rows == 47_110
    assert report.reason == "row 47111: body or received_ms does not match its hash (edited?)"


def test_verify_names_an_edited_hash(big_copy: Path) -> None:
    tamper(big_copy, "UPDATE events SET hash = ? WHERE pos = ?", "ab" * 32, 60_000)
    report = HubStore(big_copy).verify()
    assert (report.ok, report.first_broken) == (False, 60_000)
    assert report.reason is not None and "hash column was edited" in report.reason


def test_verify_names_an_edited_body_with_a_recomputed_hash(big_copy: Path) -> None:
    conn = sqlite3.connect(big_copy)
    prev_hash, received, body = conn.execute(
        "SELECT prev_hash, received_ms, body FROM events WHERE pos = 30000"
    ).fetchone()
    forged = body.replace(b'"count":', b'"count":1')  # every column still matches the body
    with conn:
        conn.execute(
            "UPDATE events SET body = ?, hash = ? WHERE pos = 30000",
            (forged, link_by_hand(prev_hash, forged, received)),
        )
    conn.close()
    report = HubStore(big_copy).verify()
    assert report.first_broken == 30_001  # row 30000 checks out alone; its successor no longer links
    assert report.reason == "row 30001: prev_hash does not match row 30000's hash (edited?)"


def test_verify_names_an_edited_prev_hash(big_copy: Path) -> None:
    tamper(big_copy, "UPDATE events SET prev_hash = ? WHERE pos = ?", "00" * 32, 12_345)
    report = HubStore(big_copy).verify()
    assert (report.ok, report.first_broken, report.rows) == (False, 12_345, 12_344)
    assert report.reason is not None and report.reason.startswith("row 12345: prev_hash")


def test_verify_names_a_deleted_row(big_copy: Path) -> None:
    tamper(big_copy, "DELETE FROM events WHERE pos = ?", 50_001)
    report = HubStore(big_copy).verify()
    assert (report.ok, report.first_broken, report.reason) == (False, 50_001, "row 50001 is missing")


def test_verify_names_a_deleted_first_row(big_copy: Path) -> None:
    tamper(big_copy, "DELETE FROM events WHERE pos = 1")
    report = HubStore(big_copy).verify()
    assert (report.first_broken, report.reason, report.rows) == (1, "row 1 is missing", 0)


def test_verify_catches_a_deleted_tail_against_the_recorded_head(big_copy: Path) -> None:
    tamper(big_copy, "DELETE FROM events WHERE pos > ?", 99_000)
    report = HubStore(big_copy).verify()
    assert (report.ok, report.rows, report.first_broken) == (False, 99_000, 99_001)
    assert report.reason == f"rows after 99000 are missing (recorded head {BIG})"


def test_a_truncation_stays_visible_after_more_events_are_appended(big_copy: Path) -> None:
    tamper(big_copy, "DELETE FROM events WHERE pos > ?", 99_990)
    store = HubStore(big_copy)
    assert store.head()[0] == 99_990
    store.write(Batch(events=events("box-99", 1, 50)))
    store.close()
    store = HubStore(big_copy)
    report = store.verify()
    assert (report.ok, report.first_broken) == (False, 99_991)
    assert report.reason is not None and report.reason.startswith(
        f"rows after 99990 are missing (recorded head {BIG})"
    )
    assert "seen at open" in report.reason
    assert report.rows == 99_990 and report.head == chain_by_hand(big_copy)[99_989][2]
    store.close()


def test_a_forged_last_row_is_caught_against_the_recorded_head(big_copy: Path) -> None:
    conn = sqlite3.connect(big_copy)
    prev_hash, received, body = conn.execute(
        "SELECT prev_hash, received_ms, body FROM events WHERE pos = ?", (BIG,)
    ).fetchone()
    forged = body.replace(b'"count":', b'"count":1')
    with conn:  # the chain alone cannot tell: the last row has no successor
        conn.execute(
            "UPDATE events SET body = ?, hash = ? WHERE pos = ?",
            (forged, link_by_hand(prev_hash, forged, received), BIG),
        )
    conn.close()
    report = HubStore(big_copy).verify()
    assert (report.ok, report.first_broken, report.rows) == (False, BIG, BIG - 1)
    assert report.reason == f"row {BIG}: hash differs from the recorded head (edited?)"


@pytest.mark.parametrize("column, value", [("kind", "band.position"), ("ts", 0), ("person", "P-1"),
                                           ("agent", "box-99"), ("received_ms", 1)])  # fmt: skip
def test_verify_names_one_column_edited_in_100k_rows(big_copy: Path, column: str, value: object) -> None:
    """Columns that queries and timelines read: each is a copy of the signed body (or, for
    received_ms, inside the hash), so one edit among 100,000 rows is named at its row."""
    tamper(big_copy, f"UPDATE events SET {column} = ? WHERE pos = 88888", value)
    report = HubStore(big_copy).verify()
    assert (report.ok, report.first_broken, report.rows) == (False, 88_888, 88_887), report
    assert column in str(report.reason)


def test_sender_numbers_holes_count_only_below_the_complete_point_and_outside_gap_records() -> None:
    from hub.chain_streams import StreamCoverage

    coverage = StreamCoverage()
    for pos, seq in enumerate([1, 2, 5, 3, 4, 9, 10, 14], start=1):  # out of order, like redeliveries
        coverage.row("box-01", "", seq, pos, {})
    gap = {"kind": "ingest.gap", "data": {"agent": "box-01", "first": 6, "last": 7}}
    coverage.row("hub", "", 1, 9, gap)
    assert coverage.holes({("box-01", ""): 8, ("hub", ""): 1}) == [
        (6, "box-01 seq 8 is missing from the log and no ingest.gap record announces it lost "
            "(a row deleted and the chain recomputed?)")
    ]  # fmt: skip
    assert coverage.holes({("box-01", ""): 7}) == []  # 11-13 and 8: may still be on their way
    coverage.row("hub", "", 2, 10, {"kind": "ingest.gap", "data": {"agent": "box-01", "first": 8, "last": 8}})
    assert (
        coverage.holes({("box-01", ""): 14}) != [] and "seq 11" in coverage.holes({("box-01", ""): 14})[0][1]
    )

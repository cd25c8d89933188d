"""The hub's store keeps a hash chain that verify checks, dedupes, quarantines, migrates, survives SIGKILL."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from hub.store import (
    GENESIS,
    RAW_LIMIT,
    Batch,
    HubStore,
    Quarantined,
    SeqGap,
    StoreError,
)
from tests.store_helpers import REPO, chain_by_hand, event, events, tamper


# the chain ------------------------------------------------------------------------------------
def test_batches_form_one_chain_that_matches_an_independent_sha256(tmp_path: Path) -> None:
    store = HubStore(tmp_path / "hub.db")
    assert store.head() == (0, GENESIS) and store.count() == 0
    stored = store.write(Batch(events=events("box-01", 1, 3)))
    stored += store.write(Batch(events=events("box-02", 1, 2) + events("box-01", 4, 5)))
    assert [s.pos for s in stored] == [1, 2, 3, 4, 5, 6, 7]
    assert [(s.agent, s.seq) for s in stored[3:5]] == [("box-02", 1), ("box-02", 2)]
    report = store.verify()
    assert report.ok and report.rows == 7 and report.first_broken is None and report.reason is None
    assert report.head == stored[-1].hash == store.head()[1] and store.head()[0] == 7
    by_hand = chain_by_hand(tmp_path / "hub.db")
    assert [h for _, _, h in by_hand] == [s.hash for s in stored]
    assert store.meta_get("head_pos") == "7" and store.meta_get("head_hash") == stored[-1].hash
    assert store.read() == stored
    store.close()


def test_head_survives_reopening_and_the_chain_continues(tmp_path: Path) -> None:
    with HubStore(tmp_path / "hub.db") as store:
        store.write(Batch(events=events("box-01", 1, 4)))
        head = store.head()
    again = HubStore(tmp_path / "hub.db")
    assert again.head() == head == (4, head[1])
    more = again.write(Batch(events=events("box-01", 5, 6)))
    assert [s.pos for s in more] == [5, 6]
    assert chain_by_hand(tmp_path / "hub.db")[4][1] == head[1]  # row 5 links to the old head
    assert again.verify().ok and again.count() == 6
    again.close()


def test_duplicates_in_a_batch_and_across_batches_do_not_advance_the_chain(tmp_path: Path) -> None:
    store = HubStore(tmp_path / "hub.db")
    first = store.write(Batch(events=[event("a", 1), event("a", 2), event("a", 2), event("b", 1)]))
    assert [(s.pos, s.agent, s.seq) for s in first] == [(1, "a", 1), (2, "a", 2), (3, "b", 1)]
    # a redelivery of old events mixed with new and late ones
    second = store.write(
        Batch(events=[event("a", 2), event("b", 1), event("a", 3), event("a", 1), event("b", 5)])
    )
    assert [(s.pos, s.agent, s.seq) for s in second] == [(4, "a", 3), (5, "b", 5)]
    assert store.write(Batch(events=[event("a", 1), event("b", 5)])) == []
    assert store.head() == (5, second[-1].hash)
    late = store.write(Batch(events=[event("b", 3)]))  # below the max but never stored: admitted
    assert [(s.pos, s.seq) for s in late] == [(6, 3)]
    assert store.count() == 6 and store.verify().ok
    store.close()
    reopened = HubStore(tmp_path / "hub.db")  # the per-agent cache starts empty again
    assert reopened.write(Batch(events=[event("b", 3), event("a", 2), event("a", 4)]))[0].seq == 4
    assert reopened.count() == 7 and reopened.verify().ok
    reopened.close()


def test_read_and_iterate_stream_in_pos_order(tmp_path: Path) -> None:
    store = HubStore(tmp_path / "hub.db")
    for first in range(1, 100, 10):
        store.write(Batch(events=events("box-01", first, first + 9)))
    assert [s.pos for s in store.read(after_pos=95)] == [96, 97, 98, 99, 100]
    assert [s.seq for s in store.read(after_pos=10, limit=3)] == [11, 12, 13]
    streamed = list(store.iterate(after_pos=3, chunk=7))
    assert [s.pos for s in streamed] == list(range(4, 101))
    assert streamed[0].body == event("box-01", 4).body and streamed[0].id == "box-01-4"
    store.close()


# quarantine, sequences, gaps, meta ------------------------------------------------------------
def test_quarantine_keeps_a_bounded_copy_and_counts_by_code(tmp_path: Path) -> None:
    store = HubStore(tmp_path / "hub.db")
    big = bytes(range(256)) * 40  # 10,240 bytes
    store.write(
        Batch(
            quarantined=[
                Quarantined(1, "casewatch/box-01/event", "signature", "bad sig", "box-01", big),
                Quarantined(2, None, "malformed", "not JSON", None, b"{nope"),
                Quarantined(3, "x/y", "signature", "bad sig", "box-02", b"{}"),
            ]
        )
    )
    assert store.quarantine_counts() == {"signature": 2, "malformed": 1}
    rows = store.quarantine_rows()
    assert [r["received_ms"] for r in rows] == [3, 2, 1]  # newest first
    oldest = rows[-1]
    assert oldest["size"] == len(big) and oldest["raw"] == big[:RAW_LIMIT] and len(oldest["raw"]) == 4096
    assert (oldest["topic"], oldest["code"], oldest["reason"], oldest["agent"]) == (
        "casewatch/box-01/event",
        "signature",
        "bad sig",
        "box-01",
    )
    assert rows[1]["topic"] is None and rows[1]["agent"] is None and rows[1]["size"] == 5
    assert [r["received_ms"] for r in store.quarantine_rows(code="signature", limit=1)] == [3]
    assert store.count() == 0 and store.head() == (0, GENESIS)  # quarantine is not part of the chain
    store.close()


def test_agent_sequences_are_upserted_and_gaps_listed(tmp_path: Path) -> None:
    store = HubStore(tmp_path / "hub.db")
    assert store.stream_next() == {} and store.gaps() == []
    store.write(
        Batch(
            events=[event("a", 1, ts=100, received=150), event("a", 2, ts=200, received=250)],
            gaps=[SeqGap("b", 3, 7, 999)],
            streams={("a", ""): 3, ("b", ""): 8},
        )
    )
    store.write(
        Batch(
            events=[event("a", 5, ts=150, received=300)],  # late in event time, last received
            gaps=[SeqGap("a", 3, 4, 1000)],
            streams={("a", ""): 6},
        )
    )
    assert store.stream_next() == {("a", ""): 6, ("b", ""): 8}
    assert store.streams()[("a", "")].highest == 5
    assert store.gaps() == [SeqGap("b", 3, 7, 999), SeqGap("a", 3, 4, 1000)]
    assert store.gaps(agent="a") == [SeqGap("a", 3, 4, 1000)]
    conn = sqlite3.connect(tmp_path / "hub.db")
    last = dict(
        (a, (t, r)) for a, t, r in conn.execute("SELECT agent, last_ts, last_received_ms FROM agent_streams")
    )
    conn.close()
    assert last == {"a": (200, 300), "b": (None, None)}  # times only move forward
    store.close()
    assert HubStore(tmp_path / "hub.db").stream_next() == {("a", ""): 6, ("b", ""): 8}


def test_the_same_seq_from_another_outbox_is_a_new_event(tmp_path: Path) -> None:
    """Events are unique by (agent, epoch, seq): a reset outbox's seq 1 is not a replay."""
    store = HubStore(tmp_path / "hub.db")
    old = [replace(event("a", seq), epoch="00000000000000aa") for seq in (1, 2)]
    new = [replace(event("a", seq), epoch="00000000000000bb", id=f"new-{seq}") for seq in (1, 2)]
    assert len(store.write(Batch(events=old))) == 2
    assert len(store.write(Batch(events=[*old, *new]))) == 2  # the old ones again: skipped
    assert [(s.seq, s.epoch) for s in store.read()] == [
        (1, "00000000000000aa"), (2, "00000000000000aa"), (1, "00000000000000bb"), (2, "00000000000000bb")
    ]  # fmt: skip
    store.close()


def test_meta_round_trips_and_the_head_keys_are_reserved(tmp_path: Path) -> None:
    store = HubStore(tmp_path / "hub.db")
    assert store.meta_get("projection_pos") is None
    store.meta_set("projection_pos", "12")
    store.meta_set("projection_pos", "13")
    assert store.meta_get("projection_pos") == "13"
    with pytest.raises(ValueError, match="head_pos"):
        store.meta_set("head_pos", "1")
    store.close()


def test_a_failed_batch_leaves_nothing_behind(tmp_path: Path) -> None:
    store = HubStore(tmp_path / "hub.db")
    store.write(Batch(events=events("a", 1, 2)))
    head = store.head()
    # another writer took position 3 behind this store's back: the next append must fail whole
    tamper(
        tmp_path / "hub.db",
        "INSERT INTO events VALUES (3, 'x', 1, 'i', 'k', 0, 0, x'00', '', '', NULL, NULL, '')",
    )
    batch = Batch(
        events=events("a", 3, 4),
        quarantined=[Quarantined(1, "t", "schema", "bad", None, b"{}")],
        streams={("a", ""): 5},
    )
    with pytest.raises(StoreError, match=r"hub\.db"):
        store.write(batch)
    # nothing of the batch: the table holds the two rows and the intruder's, which the head now names
    assert store.count() == 3 and store.head()[0] == 3 and store.head() != head
    assert store.quarantine_counts() == {} and store.stream_next() == {}
    store.close()


# crash ----------------------------------------------------------------------------------------
WRITER = """
import sys
from hub.store import Batch, HubStore, Incoming

store = HubStore(sys.argv[1])
seq = 0
while True:
    batch = []
    for _ in range(100):
        seq += 1
        body = b'{"agent":"box-01","id":"e%d","kind":"occupancy","pad":"%s","seq":%d,"ts":%d}' % (
            seq, b"x" * 500, seq, seq)
        batch.append(Incoming("box-01", seq, "e%d" % seq, "occupancy", seq, seq, body))
    stored = store.write(Batch(events=batch, streams={("box-01", ""): seq + 1}))
    print(stored[-1].pos, flush=True)
"""


def test_sigkill_mid_stream_loses_nothing_committed(tmp_path: Path) -> None:
    path = tmp_path / "hub.db"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    child = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )
    assert child.stdout is not None and child.stderr is not None
    reported: list[int] = []
    deadline = time.monotonic() + 30
    while len(reported) < 30 and time.monotonic() < deadline:
        line = child.stdout.readline()
        if not line:
            pytest.fail(f"the writer died: {child.stderr.read()}")
        reported.append(int(line))
    child.send_signal(signal.SIGKILL)
    reported += [int(line) for line in child.stdout.read().split()]  # committed before the kill
    child.wait(timeout=10)
    child.stderr.close()
    child.stdout.close()
    assert len(reported) >= 30 and child.returncode == -signal.SIGKILL

    store = HubStore(path)
    committed = reported[-1]
    assert store.head()[0] >= committed and store.head()[0] % 100 == 0  # whole batches or nothing
    assert [s.pos for s in store.read(limit=committed)] == list(range(1, committed + 1))
    assert [s.seq for s in store.read(after_pos=committed - 1, limit=1)] == [committed]
    assert store.stream_next()[("box-01", "")] == store.head()[0] + 1
    report = store.verify()
    assert report.ok and report.rows == store.count() >= committed
    assert store.write(Batch(events=[event("box-01", store.head()[0] + 1)]))[0].pos == store.head()[0]
    store.close()


def test_verify_runs_alongside_writes(tmp_path: Path) -> None:
    store = HubStore(tmp_path / "hub.db")
    store.write(Batch(events=events("a", 1, 500)))
    calls: list[int] = []

    def write_meanwhile(rows: int) -> None:
        calls.append(rows)
        if len(calls) == 1:  # the report covers one snapshot, rows appended meanwhile are not in it
            store.write(Batch(events=events("a", 501, 600)))

    progress: Callable[[int], None] = write_meanwhile
    report = store.verify(progress=progress, chunk=100)
    assert report.ok and report.rows == 500
    assert store.verify().rows == 600
    store.close()


def test_read_connections_of_ended_threads_are_closed(tmp_path: Path) -> None:
    """Review: API worker threads come and go; their read connections must not pile up."""
    import gc
    import threading

    store = HubStore(tmp_path / "hub.db")
    store.write(Batch(events=events("a", 1, 3)))
    before = len(os.listdir("/proc/self/fd"))
    threads = [threading.Thread(target=store.count) for _ in range(200)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    gc.collect()
    assert len(os.listdir("/proc/self/fd")) < before + 40  # not 400: a few may still be closing
    assert store.count() == 3  # this thread's own reader works, and is closed with the store
    store.close()

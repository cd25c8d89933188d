"""The store's contract on both backends (SQLite and PostgreSQL), and what only PostgreSQL has: one
chain per centre, a second writer of one centre refused, a dropped connection survived.

The PostgreSQL chain is checked against the documented link formula over rows read with plain
psycopg, not through the store.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from hub.store import GENESIS, RAW_LIMIT, Batch, HubStore, Quarantined, SeqGap, StoreError
from tests.pg_helpers import fresh_schema, sql
from tests.store_helpers import event, events

Opener = Callable[[], HubStore]


@pytest.fixture(params=["sqlite", "postgresql"])
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    """Opens the same store again each call (a restart), on each backend."""
    opened: list[HubStore] = []
    if request.param == "sqlite":

        def sqlite() -> HubStore:
            opened.append(HubStore(tmp_path / "hub.db"))
            return opened[-1]

        yield sqlite
    else:
        with fresh_schema() as dsn:

            def postgres() -> HubStore:
                opened.append(HubStore(dsn=dsn, chain="c1"))
                return opened[-1]

            yield postgres
            for store in opened:
                store.close()
        return
    for store in opened:
        store.close()


def test_the_chain_links_by_the_formula_and_survives_reopening(opener: Opener) -> None:
    store = opener()
    assert store.head() == (0, GENESIS) and store.count() == 0
    stored = store.write(Batch(events=events("box-01", 1, 3)))
    stored += store.write(Batch(events=events("box-02", 1, 2) + events("box-01", 4, 5)))
    assert [s.pos for s in stored] == [1, 2, 3, 4, 5, 6, 7]
    prev = GENESIS
    for s in stored:  # hash(n) = sha256(prev + body + received_ms as 8 bytes)
        tail = s.received_ms.to_bytes(8, "big", signed=True)
        assert s.hash == hashlib.sha256(bytes.fromhex(prev) + s.body + tail).hexdigest()
        prev = s.hash
    report = store.verify()
    assert report.ok and report.rows == 7 and report.head == stored[-1].hash
    assert store.read() == stored and [s.pos for s in store.iterate(after_pos=2, chunk=2)] == [3, 4, 5, 6, 7]
    store.close()
    again = opener()
    assert again.head() == (7, stored[-1].hash)
    more = again.write(Batch(events=events("box-01", 6, 7)))
    assert [s.pos for s in more] == [8, 9] and again.verify().ok and again.count() == 9


def test_duplicates_are_skipped_across_batches_and_restarts(opener: Opener) -> None:
    store = opener()
    first = store.write(Batch(events=[event("a", 1), event("a", 2), event("a", 2), event("b", 1)]))
    assert [(s.pos, s.agent, s.seq) for s in first] == [(1, "a", 1), (2, "a", 2), (3, "b", 1)]
    second = store.write(Batch(events=[event("a", 2), event("b", 1), event("a", 3), event("b", 5)]))
    assert [(s.pos, s.seq) for s in second] == [(4, 3), (5, 5)]
    store.close()
    reopened = opener()
    assert [s.seq for s in reopened.write(Batch(events=[event("b", 3), event("a", 2)]))] == [3]
    assert reopened.verify().ok
    old = [replace(event("a", seq), epoch="00000000000000aa") for seq in (1, 2)]
    assert len(reopened.write(Batch(events=old + old))) == 2  # another outbox's seq 1, 2: new events
    assert reopened.count() == 8


def test_quarantine_streams_gaps_and_meta(opener: Opener) -> None:
    store = opener()
    big = bytes(range(256)) * 40
    store.write(
        Batch(
            events=[event("a", 1, ts=100, received=150), event("a", 2, ts=200, received=250)],
            quarantined=[
                Quarantined(1, "casewatch/c1/box-01/events/x", "signature", "bad sig", "box-01", big),
                Quarantined(2, None, "malformed", "not JSON", None, b"{nope"),
            ],
            gaps=[SeqGap("b", 3, 7, 999)],
            streams={("a", ""): 3, ("b", ""): 8},
        )
    )
    store.write(Batch(events=[event("a", 5, ts=150, received=300)], gaps=[SeqGap("a", 3, 4, 1000)],
                      streams={("a", ""): 6}))  # fmt: skip
    assert store.quarantine_counts() == {"signature": 1, "malformed": 1}
    rows = store.quarantine_rows()
    assert [r["received_ms"] for r in rows] == [2, 1] and rows[1]["raw"] == big[:RAW_LIMIT]
    assert rows[1]["size"] == len(big) and rows[0]["topic"] is None
    assert store.stream_next() == {("a", ""): 6, ("b", ""): 8}
    assert store.streams()[("a", "")].highest == 5 and store.streams()[("a", "")].last_received_ms == 300
    assert store.gaps() == [SeqGap("b", 3, 7, 999), SeqGap("a", 3, 4, 1000)]
    store.meta_set("rules_digest", "x")
    store.meta_set("rules_digest", "y")
    assert store.meta_get("rules_digest") == "y"
    with pytest.raises(ValueError, match="head_pos"):
        store.meta_set("head_pos", "1")


def test_the_quarantine_cap_counts_what_it_pruned(opener: Opener) -> None:
    store = opener()
    store.quarantine_max = 3
    for n in range(3):
        store.write(
            Batch(quarantined=[Quarantined(n * 2 + i, "t", "schema", "bad", None, b"{}") for i in (0, 1)])
        )
    assert sum(store.quarantine_counts().values()) == 3 and store.quarantine_pruned() == 3


# PostgreSQL only: chains per centre, fencing, dropped connections -------------------------------
@pytest.fixture
def dsn() -> Iterator[str]:
    with fresh_schema() as found:
        yield found


def test_each_centre_has_its_own_chain_and_verifies_alone(dsn: str) -> None:
    store = HubStore(dsn=dsn, chain="c1")
    batch = [replace(e, center="c1") for e in events("a1", 1, 3)]
    batch += [replace(e, center="c2") for e in events("b1", 1, 2)]
    batch += [replace(e, center="c1") for e in events("a1", 4, 4)]
    stored = store.write(Batch(events=batch))
    assert [s.pos for s in stored] == [1, 2, 3, 1, 2, 4]  # positions count inside each centre's chain
    assert store.chains() == ["c1", "c2"] and store.head("c2")[0] == 2 and store.head()[0] == 4
    assert store.verify().ok and store.verify().rows == 4
    assert store.verify(chain="c2").ok and store.verify(chain="c2").rows == 2
    # the formula, over the rows as an outsider reads them
    for chain in ("c1", "c2"):
        prev = GENESIS
        rows = sql(
            dsn,
            "SELECT pos, prev_hash, hash, body, received_ms FROM events WHERE chain = %s ORDER BY pos",
            chain,
        )
        for pos, prev_hash, hash_, body, received in rows:
            assert prev_hash == prev, (chain, pos)
            tail = int(received).to_bytes(8, "big", signed=True)  # type: ignore[call-overload]
            assert hash_ == hashlib.sha256(bytes.fromhex(prev) + bytes(body) + tail).hexdigest()  # type: ignore[arg-type]
            prev = str(hash_)
        assert sql(dsn, "SELECT head_pos, head_hash FROM chains WHERE chain = %s", chain) == [
            (len(rows), prev)
        ]
    # an edit in one centre's chain is found there, and the other centre's chain still checks out
    sql(dsn, "UPDATE events SET body = %s WHERE chain = 'c2' AND pos = 1", b'{"agent":"b1"}')
    broken = store.verify(chain="c2")
    assert not broken.ok and broken.first_broken == 1 and store.verify(chain="c1").ok
    store.close()


def test_a_second_writer_of_one_centre_fails_its_batch_whole(dsn: str) -> None:
    """Two workers that both think they own c1 (a lease lost unnoticed): the chain must not fork."""
    one, two = HubStore(dsn=dsn, chain="c1"), HubStore(dsn=dsn, chain="c1")
    one.write(Batch(events=events("a", 1, 2)))
    two.write(Batch(events=events("b", 1, 1)))  # reads the head at its first write: pos 3
    with pytest.raises(StoreError, match="another worker"):
        one.write(Batch(events=events("a", 3, 4), quarantined=[Quarantined(1, "t", "x", "y", None, b"")],
                        streams={("a", ""): 5}))  # fmt: skip
    assert one.quarantine_counts() == {} and ("a", "") not in one.stream_next()
    assert [s.pos for s in one.write(Batch(events=events("a", 3, 4)))] == [4, 5]  # re-read the head, went on
    assert one.verify().ok and one.count() == 5
    one.close()
    two.close()


def test_a_dropped_connection_fails_one_batch_then_the_store_goes_on(dsn: str) -> None:
    """The server ends every session of the store (an administrator, a failover): the batch in
    flight fails (the ingest acknowledged none of it and sends it again); the next one reconnects;
    readers never see the dropped connections."""
    store = HubStore(dsn=dsn, chain="c1")
    store.write(Batch(events=events("a", 1, 2)))
    assert store.count() == 2  # a reader connection too
    sql(dsn, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid <> pg_backend_pid()"
             " AND application_name = 'casewatch hub'")  # fmt: skip
    with pytest.raises(StoreError):
        store.write(Batch(events=events("a", 3, 3)))
    assert [s.seq for s in store.write(Batch(events=events("a", 3, 4)))] == [3, 4]
    assert store.count() == 4 and store.verify().ok  # readers: a dropped one is replaced in the pool
    store.close()


def test_a_tail_cut_while_the_hub_was_down_is_named_at_open_and_by_verify(dsn: str) -> None:
    store = HubStore(dsn=dsn, chain="c1")
    store.write(Batch(events=events("a", 1, 5)))
    store.close()
    sql(dsn, "DELETE FROM events WHERE chain = 'c1' AND pos >= 4")
    again = HubStore(dsn=dsn, chain="c1")
    again.write(Batch(events=events("a", 6, 7)))  # appends from the real last row, keeps the note
    report = again.verify()
    assert not report.ok and report.first_broken == 4 and "missing" in (report.reason or "")
    again.close()


def test_a_commit_that_went_through_but_reported_failure_is_retried_without_duplicates(
    opener: Opener,
) -> None:
    """The connection drops during COMMIT: the rows are in, the caller heard an error and sends the
    batch again (the ingest acknowledged nothing). The retry must skip them, not fail forever on the
    unique index because the store still believed those seqs new."""
    from contextlib import contextmanager

    store = opener()
    store.write(Batch(events=events("a", 1, 2)))
    real = store.engine.transaction

    @contextmanager
    def lost_after_commit():  # type: ignore[no-untyped-def]
        with real() as db:
            yield db
        raise store.engine.errors[0]("server closed the connection unexpectedly (during COMMIT)")

    store.engine.transaction = lost_after_commit  # type: ignore[method-assign]
    with pytest.raises(StoreError, match="during COMMIT"):
        store.write(Batch(events=events("a", 3, 5)))
    store.engine.transaction = real  # type: ignore[method-assign]
    assert store.write(Batch(events=events("a", 3, 5))) == []  # all three were stored: skipped
    assert [s.seq for s in store.write(Batch(events=events("a", 5, 7)))] == [6, 7]
    assert store.count() == 7 and store.verify().ok


def test_a_worker_that_lost_its_lease_writes_nothing_more() -> None:
    """The fence is the lease, not the chain head: the old owner's retries must not take turns with
    the new owner's batches (a second writer that merely re-read the head would)."""
    from hub.errors import LeaseLost
    from hub.lease_table import LeaseTable
    from tests.pg_helpers import fresh_database

    with fresh_database() as dsn:
        table = LeaseTable(dsn, lease_s=30)
        assert table.take("c1", "w1")
        old = HubStore(dsn=dsn, chain="c1", schema="cw_c1", lease=("c1", "w1"))
        new = HubStore(dsn=dsn, chain="c1", schema="cw_c1", lease=("c1", "w2"))
        old.write(Batch(events=events("a", 1, 2)))
        with pytest.raises(LeaseLost):
            new.write(Batch(events=events("b", 1, 1)))  # not its centre yet
        sql(dsn, "UPDATE casewatch.leases SET expires_ms = 0")  # w1 went silent
        assert table.take("c1", "w2")
        new.write(Batch(events=events("b", 1, 2)))
        for _ in range(3):  # w1 retries, as its ingest would: refused every time
            with pytest.raises(LeaseLost, match="no longer holds centre c1"):
                old.write(Batch(events=events("a", 3, 3)))
        assert [(s.agent, s.seq) for s in new.read()] == [("a", 1), ("a", 2), ("b", 1), ("b", 2)]
        assert new.verify().ok
        for closing in (old, new):
            closing.close()
        table.close()

"""The outbox numbers events without gaps, keeps them across restarts, and sheds by priority."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from agent.outbox import Outbox, OutboxError, Record


def record(priority: str = "observation", ts: int = 1_000, topic: str = "t") -> Callable[[int], Record]:
    return lambda seq: Record(topic, f"payload {seq}".encode(), priority, ts)


def test_seq_is_gapless_and_survives_reopening(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db")
    assert [box.append(record()) for _ in range(3)] == [1, 2, 3]
    assert box.append_many([record(), record()]) == [4, 5]
    box.ack([1, 2, 3, 4, 5])
    box.close()  # even with everything acknowledged, numbering continues
    again = Outbox(tmp_path / "o.db")
    assert again.append(record()) == 6
    assert [p.seq for p in again.pending()] == [6]


def test_uncommitted_builder_failure_uses_no_number(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db")

    def broken(seq: int) -> Record:
        raise ValueError("bad data")

    with pytest.raises(ValueError):
        box.append_many([record(), broken])
    assert box.depth() == 0
    assert box.append(record()) == 1  # the failed batch consumed no seq


def test_a_crashed_writer_loses_nothing_committed(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db")
    box.append_many([record() for _ in range(10)])
    # another process opening the same file (what a restart after SIGKILL sees)
    other = Outbox(tmp_path / "o.db")
    assert [p.seq for p in other.pending()] == list(range(1, 11))
    assert other.next_seq() == 11


def test_pending_is_in_seq_order_and_ack_is_idempotent(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db")
    box.append_many([record() for _ in range(10)])
    assert [p.seq for p in box.pending(after_seq=3, limit=4)] == [4, 5, 6, 7]
    assert box.ack([4, 5]) == 2
    assert box.ack([4, 5]) == 0  # a duplicate PUBACK
    assert box.depth() == 8
    assert box.pending(limit=1)[0].payload == b"payload 1"


def test_shedding_takes_routine_then_observation_never_critical_first(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db", max_events=6)
    box.append_many([record("critical"), record("routine"), record("observation"), record("routine")])
    box.append_many([record("critical"), record("observation"), record("critical"), record("observation")])
    assert box.depth() == 8
    assert box.enforce_bounds(now_ms=2_000) == 2
    left = [p.seq for p in box.pending()]
    assert left == [1, 3, 5, 6, 7, 8]  # both routine events (2, 4) went first
    box.max_events = 3
    assert box.enforce_bounds(now_ms=2_000) == 3
    assert [p.seq for p in box.pending()] == [1, 5, 7]  # observations next; critical kept
    assert box.shed_total() == 5


def test_age_bound(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db", max_age_s=60)
    box.append(record("critical", ts=1_000))
    box.append(record("critical", ts=50_000))
    assert box.enforce_bounds(now_ms=100_000) == 1
    assert [p.seq for p in box.pending()] == [2]
    assert box.oldest_ts() == 50_000


def test_unusable_database_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "o.db"
    bad.write_bytes(b"this is not a database" * 100)
    with pytest.raises(OutboxError, match=r"o\.db"):
        Outbox(bad)


def test_device_states_are_stored_in_the_same_commit_as_their_events(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db")
    assert box.device_state("cab-1") is None
    box.append_many([record()], {"cab-1": '{"v": 1}'})
    assert box.device_state("cab-1") == '{"v": 1}'

    def broken(seq: int) -> Record:
        raise ValueError("bad data")

    with pytest.raises(ValueError):
        box.append_many([record(), broken], {"cab-1": '{"v": 2}'})
    assert box.device_state("cab-1") == '{"v": 1}' and box.depth() == 1  # neither, not one of them
    box.append_many([], {"cab-1": '{"v": 3}'})  # a state change with no event (a grant expired)
    box.close()
    assert Outbox(tmp_path / "o.db").device_state("cab-1") == '{"v": 3}'


def test_the_keeper_holds_a_state_with_its_events_while_the_outbox_refuses_writes(tmp_path: Path) -> None:
    from agent.emitter import Draft
    from agent.outbox_keeper import OutboxKeeper
    from protocol.data import CabinetScan

    box = Outbox(tmp_path / "o.db")

    class Refusing:
        refuse = True

        def emit_many(self, drafts: list[Draft], states: dict[str, str] | None = None) -> None:
            if self.refuse:
                raise OutboxError("disk full")
            box.append_many([record() for _ in drafts], states)

    emitter = Refusing()
    keeper = OutboxKeeper(box, emitter, None, key=b"k" * 32, center="c1", agent="a1", counters={})  # type: ignore[arg-type]
    draft = Draft("cabinet.scan", "cab-1", {"cabinet": "cab-1"}, CabinetScan(code="X-1"), 1000)
    keeper.emit([draft], {"cab-1": "after the scan"})
    assert box.device_state("cab-1") is None and keeper.unstored() == 1
    emitter.refuse = False
    keeper.flush()
    assert box.device_state("cab-1") == "after the scan" and box.depth() == 1 and keeper.unstored() == 0

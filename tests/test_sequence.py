from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.errors import ReplayError
from protocol.sequence import Gap, SeqTracker


def test_in_order_stream_has_no_gaps() -> None:
    tracker = SeqTracker()
    assert [tracker.admit("a", seq) for seq in range(1, 101)] == [None] * 100
    assert tracker.next_expected("a") == 101


def test_redelivery_is_a_replay() -> None:
    tracker = SeqTracker()
    tracker.admit("a", 1)
    tracker.admit("a", 2)
    with pytest.raises(ReplayError, match="a seq 1"):
        tracker.admit("a", 1)


def test_gap_is_reported_once_and_filled_late() -> None:
    tracker = SeqTracker()
    tracker.admit("a", 1)
    assert tracker.admit("a", 5) == Gap("a", 2, 4)
    assert tracker.admit("a", 6) is None  # the same gap is not reported again
    assert tracker.missing("a") == 3
    for seq in (3, 2, 4):
        assert tracker.admit("a", seq) is None
    assert tracker.next_expected("a") == 7
    assert tracker.missing("a") == 0
    with pytest.raises(ReplayError):
        tracker.admit("a", 5)


def test_second_gap_reported_separately() -> None:
    tracker = SeqTracker()
    tracker.admit("a", 1)
    assert tracker.admit("a", 4) == Gap("a", 2, 3)
    assert tracker.admit("a", 8) == Gap("a", 5, 7)


def test_agents_are_independent_and_restorable() -> None:
    tracker = SeqTracker()
    tracker.restore("a", 50)
    assert tracker.admit("a", 50) is None
    assert tracker.admit("b", 1) is None  # first contact with b
    with pytest.raises(ReplayError):
        tracker.admit("a", 49)


def test_a_first_seq_above_one_is_a_gap_not_history() -> None:
    """Issue 15 finding 5: a new stream's lost first batch must not be hidden by first contact."""
    tracker = SeqTracker()
    assert tracker.admit("new", 7) == Gap("new", 1, 6)
    assert tracker.admit("new", 3) is None  # a late one fills the gap
    assert tracker.highest("new") == 7


def test_a_rolled_back_batch_is_not_seen() -> None:
    """What a batch admitted counts only once it is committed: after a rollback it is new again."""
    tracker = SeqTracker()
    tracker.restore("a", 1)
    tracker.begin()
    tracker.admit("a", 1)
    tracker.admit("a", 2)
    assert tracker.admit("b", 5) == Gap("b", 1, 4)
    tracker.rollback()
    assert tracker.next_expected("a") == 1 and tracker.next_expected("b") is None
    tracker.begin()
    assert tracker.admit("a", 1) is None and tracker.admit("a", 2) is None
    assert tracker.admit("b", 5) == Gap("b", 1, 4)  # reported again: the first report was undone
    tracker.commit()
    with pytest.raises(ReplayError):
        tracker.admit("a", 2)


def test_memory_is_bounded() -> None:
    tracker = SeqTracker(max_ahead=10)
    tracker.admit("a", 1)
    for seq in range(3, 30):
        tracker.admit("a", seq)
    assert tracker.next_expected("a") == 30  # gave up waiting for seq 2


@given(st.permutations(list(range(1, 60))), st.lists(st.integers(1, 59), max_size=30))
def test_every_seq_admitted_exactly_once_in_any_order(order: list[int], repeats: list[int]) -> None:
    tracker = SeqTracker()
    tracker.restore("a", 1)
    admitted: list[int] = []
    replays = 0
    for seq in [*order, *repeats]:
        try:
            tracker.admit("a", seq)
            admitted.append(seq)
        except ReplayError:
            replays += 1
    assert sorted(admitted) == list(range(1, 60))
    assert replays == len(repeats)
    assert tracker.next_expected("a") == 60


def test_a_restored_stream_does_not_report_a_gap_twice() -> None:
    """Review: a hole kept next_expected back, and every restart reported a bigger false gap."""
    tracker = SeqTracker()
    assert tracker.admit("a", 4) == Gap("a", 1, 3)  # 1..3 lost
    for seq in range(5, 11):
        assert tracker.admit("a", seq) is None
    assert tracker.contiguous("a") == 0 and tracker.highest("a") == 10
    again = SeqTracker()
    again.restore("a", tracker.next_expected("a") or 1, tracker.highest("a"))
    assert again.admit("a", 11) is None  # 4..10 are stored, 1..3 reported already
    assert again.highest("a") == 11


def test_the_sender_saying_it_no_longer_holds_a_hole_moves_past_it() -> None:
    tracker = SeqTracker()
    tracker.admit("a", 1)
    assert tracker.admit("a", 5) == Gap("a", 2, 4)
    tracker.admit("a", 6)
    assert tracker.contiguous("a") == 1  # a receipt must not confirm past the hole
    assert tracker.advance("a", 5) == []  # 2..4 reported already: not again
    assert tracker.contiguous("a") == 6
    assert tracker.advance("a", 10) == [Gap("a", 7, 9)]  # never seen, never reported: now
    assert tracker.contiguous("a") == 9 and tracker.advance("a", 3) == []


def test_a_deferred_stream_reports_a_hole_only_when_the_sender_gives_it_up() -> None:
    """An agent with receipts sends again what is not confirmed: a hole is not yet a loss."""
    tracker = SeqTracker()
    assert tracker.admit("a", 3, deferred=True) is None  # 1, 2 may still come
    assert tracker.admit("a", 5) is None and tracker.admit("a", 7) is None
    assert tracker.admit("a", 1) is None and tracker.contiguous("a") == 1
    # its outbox now starts at 8: 2, 4 and 6 are gone; 3, 5, 7 are stored and not part of a gap
    assert tracker.advance("a", 8) == [Gap("a", 2, 2), Gap("a", 4, 4), Gap("a", 6, 6)]
    assert tracker.contiguous("a") == 7
    restored = SeqTracker()
    restored.restore("a", 8, 7, deferred=True)
    assert restored.admit("a", 10) is None and restored.advance("a", 10) == [Gap("a", 8, 9)]

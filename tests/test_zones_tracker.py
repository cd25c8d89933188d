from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from detectors.detection import Detection
from detectors.tracker import IouTracker
from detectors.zones import Placed, ZoneCounter, ZoneReading, ZoneShape, read_zones

SQUARE = ZoneShape("z", "officers", ((0.2, 0.2), (0.6, 0.2), (0.6, 0.6), (0.2, 0.6)))
TRIANGLE = ZoneShape("t", "door", ((0.0, 0.0), (1.0, 0.0), (0.0, 1.0)))


def reading(count: int) -> ZoneReading:
    return ZoneReading(count, tuple(range(count)), 0.9 if count else None)


def test_point_in_polygon() -> None:
    assert SQUARE.contains(0.4, 0.4)
    assert not SQUARE.contains(0.7, 0.4)
    assert TRIANGLE.contains(0.2, 0.2) and not TRIANGLE.contains(0.8, 0.8)


@given(st.floats(0, 1), st.floats(0, 1))
def test_rectangle_membership_matches_its_bounds(x: float, y: float) -> None:
    inside = 0.2 < x < 0.6 and 0.2 < y < 0.6
    on_edge = x in (0.2, 0.6) or y in (0.2, 0.6)
    assert on_edge or SQUARE.contains(x, y) == inside


def test_read_zones_uses_bottom_centres() -> None:
    persons = [Placed(1, 0.3, 0.5, 0.8), Placed(2, 0.9, 0.9, 0.7), Placed(3, 0.5, 0.3, 0.6)]
    got = read_zones([SQUARE], persons)["z"]
    assert got == ZoneReading(2, (1, 3), 0.6)


def test_first_reading_is_confirmed_at_once() -> None:
    counter = ZoneCounter("z", inertia_ms=2000)
    change = counter.update(reading(2), 1000)
    assert change is not None and change.count == 2 and change.previous is None and change.since_ms == 1000


def test_change_needs_to_persist_for_the_inertia() -> None:
    counter = ZoneCounter("z", inertia_ms=2000)
    counter.update(reading(2), 0)
    assert counter.update(reading(1), 10_000) is None
    assert counter.update(reading(1), 11_000) is None
    change = counter.update(reading(1), 12_000)
    assert change is not None and change.count == 1 and change.previous == 2
    assert change.since_ms == 10_000  # when it started, not when it was confirmed


def test_one_missed_frame_never_flips_the_count() -> None:
    counter = ZoneCounter("z", inertia_ms=2000)
    counter.update(reading(1), 0)
    for t in range(200, 20_000, 200):
        miss = t % 2000 == 0  # a miss every 10th frame
        assert counter.update(reading(0 if miss else 1), t) is None
    assert counter.count == 1


def test_tracker_keeps_ids_and_tolerates_a_miss() -> None:
    tracker = IouTracker(max_misses=1)
    a, b = Detection(0, 0, 10, 20, 0.9), Detection(50, 0, 60, 20, 0.8)
    first = tracker.update([a, b])
    ids = {t.track_id for t in first}
    moved = [Detection(1, 0, 11, 20, 0.9), Detection(51, 1, 61, 21, 0.8)]
    assert {t.track_id for t in tracker.update(moved)} == ids
    assert {t.track_id for t in tracker.update([moved[0]])} == {min(ids)}  # b missed once
    assert {t.track_id for t in tracker.update(moved)} == ids  # b still known
    tracker.update([])
    tracker.update([])
    assert tracker.tracks == []
    assert tracker.update([a])[0].track_id == max(ids) + 1  # new person, new id

"""Inertia that tracks (docs/vision.md "Inertia"): properties over random reading sequences, and
the defects seen on real footage — a phantom sample re-dating a transition, a busy scene frozen
at its first reading, a person at the bottom edge of the frame never counted."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from detectors.zones import ZoneChange, ZoneCounter, ZoneReading, ZoneShape

PERIOD = 100  # ms between samples (10 fps)
INERTIA = 2000
WHOLE = ZoneShape("room", "area", ((0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)))


def play(counts: list[int], inertia: int = INERTIA) -> tuple[ZoneCounter, list[ZoneChange]]:
    counter = ZoneCounter("z", inertia_ms=inertia)
    changes = []
    for index, count in enumerate(counts):
        change = counter.update(ZoneReading(count, (), None), index * PERIOD)
        if change is not None:
            changes.append(change)
    return counter, changes


steady = st.integers(0, 6)


@given(steady, st.integers(1, 100))
def test_a_steady_reading_never_changes(value: int, length: int) -> None:
    _, changes = play([value] * length)
    assert [c.count for c in changes] == [value]  # the baseline only


@given(steady, st.lists(st.tuples(st.integers(3, 200), st.integers(0, 9)), max_size=8))
def test_lone_contradicting_samples_never_confirm(value: int, outliers: list[tuple[int, int]]) -> None:
    counts = [value] * 240
    for at, other in outliers:
        counts[at] = other
    for at, _ in outliers:  # keep them lone: neighbours hold the steady value
        for near in (at - 1, at + 1):
            if 0 <= near < len(counts) and near not in {a for a, _ in outliers}:
                counts[near] = value
    counter, changes = play(counts)
    assert [c.count for c in changes] == [value] and counter.count == value


@given(steady, steady, st.integers(20, 60), st.integers(25, 60), st.sets(st.integers(2, 18), max_size=2))
def test_a_step_is_confirmed_after_the_inertia_and_dated_at_its_first_sample(
    before: int, after: int, lead: int, run: int, glitches: set[int]
) -> None:
    if before == after:
        return
    counts = [before] * lead + [after] * run
    for offset in glitches:  # a contradicting sample inside the new run changes nothing
        counts[lead + offset] = before
    counter, changes = play(counts)
    assert [c.count for c in changes] == [before, after]
    assert changes[1].since_ms == lead * PERIOD  # the first sample of the new state
    confirmed_at = next(i for i in range(len(counts)) if play(counts[: i + 1])[0].count == after) * PERIOD
    assert INERTIA <= confirmed_at - changes[1].since_ms <= INERTIA + PERIOD
    assert counter.since_ms == lead * PERIOD


def test_a_phantom_one_sample_before_the_confirmation_does_not_redate_it() -> None:
    """Real footage: a person enters at frame 12; a reflection read as a second person one sample
    before the change was confirmed moved ``since`` from frame 12 to frame 95."""
    for phantom in (0, 2):
        counts = [0] * 12 + [1] * 60
        counts[12 + INERTIA // PERIOD - 1] = phantom
        _, changes = play(counts)
        assert [(c.count, c.since_ms) for c in changes] == [(0, 0), (1, 1200)], phantom
    counts = [0] * 5 + [1] + [0] * 6 + [1] * 40  # a phantom of the same value six samples before
    _, changes = play(counts)
    assert [(c.count, c.since_ms) for c in changes] == [(0, 0), (1, 1200)]


@given(st.lists(st.integers(6, 9), min_size=45, max_size=80))
def test_a_busy_scene_follows_the_crowd_within_the_window(busy: list[int]) -> None:
    """Real footage: a zone read 6–9 for 3.6 s and stayed confirmed at 5."""
    counter, changes = play([5] * 30 + busy)
    assert counter.count is not None and 6 <= counter.count <= 9
    assert changes[1].since_ms == (30 + busy.index(changes[1].count)) * PERIOD  # its first reading


def test_a_run_shorter_than_the_inertia_that_reverts_is_never_confirmed() -> None:
    """Review: an officer hidden for 1.4 s (most of a 2 s window) was confirmed as gone."""
    for hidden in (7, 10, 14, 19):
        _, changes = play([1] * 20 + [0] * hidden + [1] * 40)
        assert [c.count for c in changes] == [1], hidden


def test_zero_inertia_follows_every_reading_at_once() -> None:
    _, changes = play([0, 0, 1, 1, 2, 0], inertia=0)
    assert [(c.count, c.since_ms) for c in changes] == [(0, 0), (1, 200), (2, 400), (0, 500)]


@given(st.lists(st.integers(0, 5), min_size=1, max_size=200))
def test_confirmations_are_dated_in_order_and_never_in_the_future(counts: list[int]) -> None:
    counter = ZoneCounter("z", inertia_ms=INERTIA)
    last_since = -1
    for index, count in enumerate(counts):
        change = counter.update(ZoneReading(count, (), None), index * PERIOD)
        if change is not None:
            assert last_since < change.since_ms <= index * PERIOD or (
                last_since == -1 and change.since_ms == 0
            )
            last_since = change.since_ms


def test_the_bottom_edge_of_the_frame_is_inside_a_whole_frame_zone() -> None:
    """Real footage: a person cut by the bottom of the frame (box clipped to y = 1.0) was counted 0."""
    assert WHOLE.contains(0.5, 1.0) and WHOLE.contains(1.0, 0.3) and WHOLE.contains(0.0, 0.0)
    triangle = ZoneShape("t", "area", ((0.1, 0.1), (0.9, 0.1), (0.5, 0.9)))
    assert triangle.contains(0.3, 0.5)  # on the slanted edge
    assert not triangle.contains(0.2, 0.8) and not WHOLE.contains(0.5, 1.0001)


def test_a_pixel_coordinate_is_refused_with_what_a_zone_point_is() -> None:
    import pytest
    from pydantic import ValidationError

    from detectors.config import Zone

    with pytest.raises(ValidationError, match="fractions of the image's width and height, 0–1 — a pixel"):
        Zone.model_validate({"id": "z", "polygon": [[0, 0], [640, 0], [640, 360]]})
    assert Zone.model_validate({"id": "z", "polygon": [[0, 0], [1, 0], [1, 1]]}).polygon[2] == (1.0, 1.0)

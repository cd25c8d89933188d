"""Recording coverage of a person's custody (hub/coverage.py), worked out by hand: which room
time no recording covers, and why; the share of custody time on camera."""

from __future__ import annotations

from typing import Any

from hub.coverage import camera_records, coverage, subtract, union
from hub.timeline import Stay

T = 1_796_313_600_000
S = 1000
M = 60 * S


def state(camera: str, state: str, since: int, room: str = "int-1") -> dict[str, Any]:
    return {"kind": "recording.state", "subject": {"camera": camera, "room": room},
            "data": {"state": state, "since": since}}  # fmt: skip


def gap(camera: str, start: int, end: int, reason: str, room: str = "int-1") -> dict[str, Any]:
    return {"kind": "recording.gap", "subject": {"camera": camera, "room": room},
            "data": {"start": start, "end": end, "reason": reason, "detail": f"{reason}!"}}  # fmt: skip


def test_spans_union_and_subtract() -> None:
    assert union([(5, 9), (0, 3), (2, 4), (9, 10), (7, 7)]) == [(0, 4), (5, 10)]
    assert subtract([(0, 10), (20, 30)], [(5, 25), (28, 40)]) == [(0, 5), (25, 28)]


def test_a_recorded_camera_with_a_gap_and_a_stop() -> None:
    records = camera_records(
        [state("a", "recording", T), gap("a", T + M, T + 2 * M, "stream_lost"),
         state("a", "stopped", T + 5 * M), state("a", "recording", T + 6 * M)],
        until=T + 10 * M,
    )  # fmt: skip
    assert records["a"].spans == [(T, T + M), (T + 2 * M, T + 5 * M), (T + 6 * M, T + 10 * M)]


def test_custody_time_off_camera_with_each_reason() -> None:
    """In custody 0–60 min: waiting room 0–20 (camera w recorded throughout), interrogation 20–40
    (two cameras; a's stream lost 25–30 and b not recorded: uncovered 25–30; both lost 33–34 for
    30 s: shorter pieces than 3 s are joins, this is not), toilet 40–45 (no camera), band lost
    45–50, interrogation again 50–60 where neither camera is on record after a stopped at 48."""
    stays = [Stay("wait-1", T, T + 20 * M), Stay("int-1", T + 20 * M, T + 40 * M), Stay("wc-1", T + 40 * M,
             T + 45 * M), Stay("int-1", T + 50 * M, None)]  # fmt: skip
    events = [
        state("w", "recording", T - 10 * M, "wait-1"),
        state("a", "recording", T), gap("a", T + 25 * M, T + 30 * M, "stream_lost"),
        gap("a", T + 33 * M, T + 33 * M + 30 * S, "recorder_exited"),
        state("b", "recording", T + 30 * M), gap("b", T + 33 * M, T + 33 * M + 30 * S, "agent_down"),
        state("a", "stopped", T + 48 * M), state("b", "stopped", T + 48 * M),
    ]  # fmt: skip
    rooms = {"wait-1": ["w"], "int-1": ["a", "b"]}
    found = coverage(stays, T, T + 60 * M, rooms, camera_records(events, T + 60 * M))
    pieces = [(u.room, (u.start - T) // S, (u.end - T) // S, u.reason, u.cause) for u in found.uncovered]
    assert pieces == [
        ("int-1", 25 * 60, 30 * 60, "recording_gap", "stream_lost"),
        ("int-1", 33 * 60, 33 * 60 + 30, "recording_gap", "recorder_exited"),
        ("wc-1", 40 * 60, 45 * 60, "room_without_camera", None),
        (None, 45 * 60, 50 * 60, "position_unknown", None),
        ("int-1", 50 * 60, 60 * 60, "not_recorded", None),
    ]
    # on camera: 20 + (20 - 5 - 0.5) min of 60
    assert found.covered_ms == 20 * M + 14 * M + 30 * S and found.room_ms == 55 * M
    assert found.percent == round(100 * (34.5 / 60), 2)
    assert found.rooms["int-1"] == {"ms": 30 * M, "covered_ms": 14 * M + 30 * S}
    short = coverage([Stay("int-1", T, T + 10 * M)], T, T + 10 * M, rooms,
                     camera_records([state("a", "recording", T), gap("a", T + M, T + M + 2 * S, "unknown")],
                                    T + 10 * M))  # fmt: skip
    assert short.uncovered == [] and short.covered_ms == 10 * M - 2 * S  # a 2-s join is no gap


def test_an_empty_custody_is_fully_covered() -> None:
    assert coverage([], T, T, {}, {}).percent == 100.0
    nobody = coverage([], T, T + M, {}, {})
    assert nobody.percent == 0.0 and [u.reason for u in nobody.uncovered] == ["position_unknown"]


def test_a_camera_recorded_before_its_first_health_report_is_known_and_owned() -> None:
    """Recording starts faster than the vision pipeline's first health report: the camera is in
    the read model with its recording state, owned by the agent that recorded it."""
    from hub.projections import Projections

    p = Projections("c1")
    where = {"camera": "cam-a", "room": "int-1"}
    p.apply({"kind": "recording.state", "agent": "box-01", "ts": T, "subject": where,
             "data": {"state": "recording", "since": T}})  # fmt: skip
    p.apply({"kind": "camera.health", "agent": "box-01", "ts": T + S, "subject": where,
             "data": {"state": "online", "since": T + S}})  # fmt: skip
    p.apply({"kind": "recording.state", "agent": "box-02", "ts": T + 2 * S, "subject": {"camera": "cam-a"},
             "data": {"state": "stopped", "since": T + 2 * S}})  # fmt: skip
    cam = p.cameras["cam-a"]
    assert cam["agent"] == "box-01" and cam["room"] == "int-1" and cam["state"] == "online"
    assert cam["recording"] == {"state": "recording", "since": T}  # another box's word changes nothing

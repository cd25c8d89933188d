"""Room-state fusion and the conditions the agent raises, on a virtual clock."""

from __future__ import annotations

from agent.conditions import ConditionTracker, Ended, Started, candidates
from agent.config import Room
from agent.room_state import Fusion
from detectors.config import Camera
from protocol.ids import uuid7
from protocol.registry import BandFlags, BandRegistration

T0 = 1_767_250_000_000
INT = Room(id="int-1", name="讯问室1", type="interrogation", officer_method="persons_minus_detainees")
DESK = Room(id="int-2", name="讯问室2", type="interrogation", officer_method="zones")
WAIT = Room(id="wait-1", name="候问室1", type="waiting")
TAGS = Room(id="check", name="安检室", type="safety_check", officer_method="tags")
EXIT = Room(id="exit", name="出口", type="exit")
ZONES = [
    {"id": "officers", "role": "officers", "polygon": [[0, 0], [0.5, 0], [0.5, 1], [0, 1]]},
    {"id": "seat", "role": "detainee_seat", "polygon": [[0.5, 0], [1, 0], [1, 1], [0.5, 1]]},
]


def cam(camera_id: str, room: str) -> Camera:
    return Camera.model_validate({"id": camera_id, "room": room, "source": {"type": "usb"}, "zones": ZONES})


def reg(band: str, role: str, *, case: str | None = None, sex: str | None = None, minor: bool = False):
    flags = BandFlags(minor=minor)
    return BandRegistration(center="c", band=band, role=role, case=case, sex=sex, flags=flags, updated=T0)


def fusion() -> Fusion:
    f = Fusion([INT, DESK, WAIT, TAGS, EXIT], [cam("c-int", "int-1"), cam("c-desk", "int-2")])
    for band, role, extra in (
        ("D1", "detainee", {"case": "K1", "sex": "male"}),
        ("D2", "detainee", {"case": "K1", "sex": "female"}),
        ("D3", "detainee", {"case": "K2", "sex": "male", "minor": True}),
        ("P1", "officer", {}),
        ("A1", "auxiliary", {}),
        ("G1", "guardian", {}),
    ):
        f.register(band, reg(band, role, **extra))
    return f


def names(f: Fusion, room: str) -> set[str]:
    return {c.name for c in candidates(f.state(room), f)}


def test_interrogation_by_one_officer_is_understaffed() -> None:
    f = fusion()
    f.band("D1", "int-1")
    f.zone("c-int", "officers", 2)
    f.zone("c-int", "seat", 1)
    state = f.state("int-1")
    assert (state.persons, state.officers, state.detainees) == (3, 2, ("D1",))
    assert names(f, "int-1") == set()
    f.zone("c-int", "officers", 1)
    assert names(f, "int-1") == {"understaffed"}
    f.zone("c-int", "officers", 0)
    assert names(f, "int-1") == {"unattended"}


def test_zone_method_counts_only_the_officer_zone() -> None:
    f = fusion()
    f.band("D1", "int-2")
    f.zone("c-desk", "officers", 1)
    f.zone("c-desk", "seat", 2)  # two people on the detainee side do not make officers
    assert f.state("int-2").officers == 1
    assert names(f, "int-2") == {"understaffed"}


def test_tags_method_and_auxiliaries() -> None:
    f = fusion()
    f.band("D1", "check")
    f.band("A1", "check")
    state = f.state("check")
    assert (state.officers, state.staff) == (0, 1)
    assert names(f, "check") == {"understaffed"}  # an auxiliary attends but is not a 民警
    f.band("A1", None)
    assert names(f, "check") == {"unattended"}


def test_waiting_room_conditions() -> None:
    f = fusion()
    for band in ("D1", "D2", "D3", "P1"):
        f.band(band, "wait-1")
    assert names(f, "wait-1") == {"co_suspects", "mixed_sexes", "special_group_waiting"}
    co = next(c for c in candidates(f.state("wait-1"), f) if c.name == "co_suspects")
    assert co.facts.cases == ["K1"]


def test_a_minor_questioned_without_a_guardian() -> None:
    f = fusion()
    f.band("D3", "int-1")  # the minor
    f.zone("c-int", "officers", 3)
    assert names(f, "int-1") == {"minor_unaccompanied"}
    f.band("G1", "int-1")
    f.zone("c-int", "officers", 4)  # the guardian is one more person on camera
    assert names(f, "int-1") == set()
    f.band("G1", None)
    f.band("D3", "wait-1")  # a waiting room is special_group_waiting's business
    assert "minor_unaccompanied" not in names(f, "wait-1")


def test_exit_and_coverage() -> None:
    f = fusion()
    f.band("D1", "exit")
    assert names(f, "exit") == {"exit_zone"}
    f.band("D1", "int-1")
    f.zone("c-int", "officers", 2)
    f.camera("c-int", "covered")
    state = f.state("int-1")
    assert state.persons is None and state.cameras_unhealthy == ("c-int",)
    assert "coverage_lost" in names(f, "int-1")
    f.band("D1", None)  # no band: the covered camera's last count still says the room is occupied
    assert names(f, "int-1") == {"coverage_lost"}


def test_implausible_counts_are_clamped_and_logged() -> None:
    f = fusion()
    f.zone("c-int", "seat", 40)
    assert f.state("int-1").persons == INT.capacity
    assert any("capacity" in a for a in f.anomalies)
    f.zone("c-nope", "seat", 1)
    f.band("D9", "no-such-room")
    assert len(f.anomalies) == 3


def test_a_band_in_two_rooms_is_where_it_was_last_seen() -> None:
    f = fusion()
    f.band("D1", "int-1")
    f.band("D1", "wait-1")
    assert f.state("int-1").detainees == () and f.state("wait-1").detainees == ("D1",)
    assert any("moved int-1 -> wait-1" in a for a in f.anomalies)


def test_debounce_start_and_end_with_ids_and_duration() -> None:
    f = fusion()
    f.band("D1", "int-1")
    f.zone("c-int", "seat", 1)  # the camera sees the detainee too
    tracker = ConditionTracker(new_id=uuid7, start_after_ms=3000, end_after_ms=5000)
    events = []
    for second in range(0, 40):
        now = T0 + second * 1000
        one_officer = 10 <= second < 25 and second != 15  # one frame of two officers at 15 s
        f.zone("c-int", "officers", 1 if one_officer else 2)
        events += tracker.evaluate(candidates(f.state("int-1"), f), now)
    assert [type(e).__name__ for e in events] == ["Started", "Ended"]
    started, ended = events
    assert isinstance(started, Started) and isinstance(ended, Ended)
    assert started.data.condition == "understaffed" and started.at_ms == T0 + 10_000
    assert started.data.facts.officers == 1 and started.data.facts.required_officers == 2
    assert ended.data.condition_id == started.data.condition_id
    assert ended.data.started == T0 + 10_000 and ended.data.duration_ms == 14_000  # last seen at 24 s
    assert tracker.active() == {}


def test_flicker_shorter_than_the_start_delay_raises_nothing() -> None:
    f = fusion()
    f.band("D1", "int-1")
    f.zone("c-int", "seat", 1)
    tracker = ConditionTracker(new_id=uuid7)
    out = []
    for second in range(30):
        f.zone("c-int", "officers", 1 if second % 3 == 0 else 2)
        out += tracker.evaluate(candidates(f.state("int-1"), f), T0 + second * 1000)
    assert out == []


def test_a_file_camera_that_ended_raises_no_coverage_alarm_and_closes_its_conditions_as_source_ended() -> (
    None
):
    """Issue 18: a `loop: false` file went offline at its end: a false coverage_lost, and its open
    condition closed as "resolved"."""
    f = fusion()
    f.band("D1", "int-1")
    f.zone("c-int", "seat", 1)
    f.zone("c-int", "officers", 1)
    tracker = ConditionTracker(new_id=uuid7, start_after_ms=3000, end_after_ms=5000)
    events = []
    for second in range(0, 10):
        events += tracker.evaluate(candidates(f.state("int-1"), f), T0 + second * 1000)
    assert [type(e).__name__ for e in events] == ["Started"]
    f.camera("c-int", "ended")
    state = f.state("int-1")
    assert state.source_ended and state.cameras_unhealthy == () and state.persons is None
    assert "coverage_lost" not in names(f, "int-1")
    ended_rooms = frozenset(r for r, s in f.states().items() if s.source_ended)
    closing = tracker.evaluate(candidates(state, f), T0 + 10_000, ended_rooms=ended_rooms)
    assert len(closing) == 1 and isinstance(closing[0], Ended)
    assert closing[0].data.reason == "source_ended" and closing[0].data.condition == "understaffed"
    assert tracker.active() == {}
    later = tracker.evaluate(candidates(state, f), T0 + 20_000, ended_rooms=ended_rooms)
    assert "understaffed" not in {e.data.condition for e in later}  # it needs the cameras


def test_conditions_of_the_bands_go_on_in_a_room_whose_cameras_ended() -> None:
    """Review: every condition of such a room was suppressed for good, band-only ones included."""
    f = fusion()
    f.band("D1", "int-1")
    f.band("D2", "int-1")  # two suspects of case K1 together: known from their bands alone
    f.zone("c-int", "seat", 2)
    f.zone("c-int", "officers", 1)
    tracker = ConditionTracker(new_id=uuid7, start_after_ms=3000, end_after_ms=5000)
    for second in range(0, 10):
        tracker.evaluate(candidates(f.state("int-1"), f), T0 + second * 1000)
    assert {name for name, room in tracker.active()} >= {"co_suspects", "understaffed"}
    f.camera("c-int", "ended")
    ended = frozenset({"int-1"})
    closing = tracker.evaluate(candidates(f.state("int-1"), f), T0 + 10_000, ended_rooms=ended)
    assert [(e.data.condition, e.data.reason) for e in closing if isinstance(e, Ended)] == [
        ("understaffed", "source_ended")
    ]
    for second in range(11, 30):
        assert not [e for e in tracker.evaluate(candidates(f.state("int-1"), f), T0 + second * 1000,
                                                ended_rooms=ended) if isinstance(e, Ended)]  # fmt: skip
    assert "co_suspects" in {name for name, room in tracker.active()}

"""A person's timeline from band wearing intervals: a band passed on is not its last wearer's."""

from __future__ import annotations

from typing import Any

from hub.timeline import Seen, holdings, present, stays, timeline, worn

M = 60_000


def rec(kind: str, ts: int, subject: dict[str, str], **data: Any) -> dict[str, Any]:
    return {"kind": kind, "ts": ts, "subject": subject, "data": data, "source": "operator"}


def test_a_band_passed_from_an_officer_to_a_detainee_is_not_the_officer_in_the_room() -> None:
    records = [
        rec("band.bind", 0, {"band": "B7"}, role="officer", officer="o1"),
        rec("band.unbind", 10 * M, {"band": "B7"}),
        rec("band.bind", 20 * M, {"band": "B7", "person": "p2"}, role="detainee"),
        rec("band.bind", 20 * M, {"band": "B8"}, role="officer", officer="o2"),
        rec("person.release", 60 * M, {"person": "p2"}),
    ]
    held = holdings(records)
    assert [(h.band, h.start, h.end, h.officer or h.person) for h in held] == [
        ("B7", 0, 10 * M, "o1"), ("B7", 20 * M, 60 * M, "p2"), ("B8", 20 * M, None, "o2"),
    ]  # fmt: skip
    seen = [Seen("B7", 5 * M, "int-1"), Seen("B7", 25 * M, "int-1"), Seen("B8", 30 * M, "int-1")]
    own = worn(seen, [h for h in held if h.person == "p2"])
    staff = worn(seen, [h for h in held if h.officer], by_officer=True)
    assert own == [Seen("B7", 25 * M, "int-1"), Seen("B7", 60 * M, None)]  # not the officer's morning walk
    assert staff == [Seen("o1", 5 * M, "int-1"), Seen("o1", 10 * M, None), Seen("o2", 30 * M, "int-1")]
    (stay,) = stays(own, until=60 * M)
    staff_stays = {o: stays([s for s in staff if s.band == o], 60 * M) for o in ("o1", "o2")}
    assert present(stay, staff_stays) == {"o2"}  # o1 left the room long before the detainee came
    person = {"arrived": 20 * M, "released": 60 * M, "procedure": "summons"}
    steps = timeline(person, records[2:], own, staff, [], {"int-1": "讯问室1"}, {"o1": "王", "o2": "李"})
    (room,) = [s for s in steps if s["type"] == "room"]
    assert room["staff"] == ["李"] and room["left"] == 60 * M

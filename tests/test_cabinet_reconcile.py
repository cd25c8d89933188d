"""A cabinet restarted (or its board back from an outage) compares the board's first reading with
the persisted picture: what changed unobserved is reported ``reconciled``, the inventory follows
the board, grants survive the restart, and nothing is granted from a reading that is not current."""

from __future__ import annotations

import json
from typing import Any

import pytest

from devices.cabinet_logic import CabinetLogic, CabinetRules, Decision
from devices.cabinet_state import CabinetState, StateError, parse_state

SLOTS = ("s01", "s02", "s03")
DOC = "A3301020250001-01"
RULES = CabinetRules(officers={7: "P1001"}, slots=SLOTS, grant_window_ms=30_000)


def read(
    logic: CabinetLogic, now: int, *, open_: tuple[str, ...] = (), full: tuple[str, ...] = ()
) -> Decision:
    return logic.sensors({s: s in open_ for s in SLOTS}, {s: s in full for s in SLOTS}, now)


def data(decision: Decision) -> list[tuple[str, str | None, dict[str, Any]]]:
    return [(e.kind, e.subject.get("slot"), e.data.model_dump(exclude_none=True)) for e in decision.events]


def restart(logic: CabinetLogic) -> CabinetLogic:
    """What a new process makes of the state the old one stored (through JSON, as on disk)."""
    text = json.dumps(logic.state.to_json())
    return CabinetLogic("cab-1", logic.rules, state=CabinetState.from_json(json.loads(text)))


def with_document_in_s02() -> CabinetLogic:
    logic = CabinetLogic("cab-1", RULES, state=CabinetState(inventory={DOC: "s02"}))
    read(logic, 0, full=("s02",))
    return logic


def test_a_take_interrupted_by_a_kill_is_completed_from_the_first_reading() -> None:
    logic = with_document_in_s02()
    logic.finger(7, 1000)
    assert logic.scan(DOC, 2000).unlock == ["s02"]
    read(logic, 3000, open_=("s02",), full=("s02",))  # door opened inside the grant
    logic = restart(logic)  # killed: the officer takes the file and shuts the door meanwhile
    assert data(read(logic, 9000)) == [
        ("cabinet.slot", "s02", {"state": "out", "document": DOC, "scanned": True, "reconciled": True}),
        ("cabinet.door", "s02", {"state": "closed", "open_since": 3000, "reconciled": True}),
    ]
    assert logic.inventory == {} and logic.grants == {}


def test_a_file_removed_while_nobody_looked_leaves_the_inventory_and_cannot_be_taken_again() -> None:
    logic = restart(with_document_in_s02())
    assert data(read(logic, 5000)) == [
        ("cabinet.slot", "s02", {"state": "out", "document": DOC, "scanned": False, "reconciled": True})
    ]
    assert logic.inventory == {}
    logic.finger(7, 6000)
    granted = logic.scan(DOC, 6500)
    access = granted.events[-1].data.model_dump(exclude_none=True)
    assert access["action"] == "return" and access["slot"] == "s01"  # not a take from the empty s02


def test_a_file_that_appeared_while_down_is_reported_and_its_slot_not_given_away() -> None:
    logic = restart(with_document_in_s02())
    assert data(read(logic, 5000, full=("s01", "s02"))) == [
        ("cabinet.slot", "s01", {"state": "in", "scanned": False, "reconciled": True})
    ]
    logic.finger(7, 6000)
    assert logic.scan("A3301020250002-01", 6500).unlock == ["s03"]


def test_a_restart_inside_a_grant_keeps_it_and_pulses_the_lock_again() -> None:
    logic = CabinetLogic("cab-1", RULES)
    read(logic, 0)
    logic.finger(7, 1000)
    assert logic.scan(DOC, 2000).unlock == ["s01"]
    logic = restart(logic)  # SIGTERM before the officer opened the door
    assert logic.resumed(4000).unlock == ["s01"]
    assert data(read(logic, 4500)) == []
    opened = data(read(logic, 6000, open_=("s01",)))
    assert opened == [("cabinet.door", "s01", {"state": "open", "open_since": 6000})]
    assert data(read(logic, 7000, open_=("s01",), full=("s01",)))[0][2] == {
        "state": "in", "document": DOC, "scanned": True,
    }  # fmt: skip
    assert logic.inventory == {DOC: "s01"}


def test_a_grant_that_expired_while_down_explains_nothing() -> None:
    logic = CabinetLogic("cab-1", RULES)
    read(logic, 0)
    logic.finger(7, 1000)
    logic.scan(DOC, 2000)
    logic = restart(logic)
    assert logic.resumed(60_000).unlock == []
    assert data(read(logic, 60_000, full=("s01",))) == [
        ("cabinet.slot", "s01", {"state": "in", "scanned": False, "reconciled": True})
    ]
    assert logic.inventory == {}


def test_a_board_outage_makes_the_next_reading_a_reconciliation_and_refuses_grants_meanwhile() -> None:
    logic = with_document_in_s02()
    logic.board_lost()
    logic.finger(7, 1000)
    refused = logic.scan(DOC, 1500)
    assert refused.unlock == []
    assert refused.events[-1].data.model_dump(exclude_none=True)["reason"] == "board_offline"
    assert data(read(logic, 2000, open_=("s03",), full=("s02",))) == [
        ("cabinet.door", "s03", {"state": "forced", "open_since": 2000, "reconciled": True})
    ]
    assert data(read(logic, 2500, full=("s02",))) == [
        ("cabinet.door", "s03", {"state": "closed", "open_since": 2000})
    ]  # observed again: not reconciled


def test_no_grant_before_the_first_reading() -> None:
    logic = CabinetLogic("cab-1", RULES, state=CabinetState(inventory={DOC: "s02"}))
    logic.finger(7, 1000)
    assert logic.scan(DOC, 1500).events[-1].data.model_dump(exclude_none=True)["reason"] == "board_offline"


def test_never_a_take_from_a_slot_the_board_says_is_empty() -> None:
    logic = CabinetLogic("cab-1", RULES)
    read(logic, 0)
    logic.inventory[DOC] = "s02"  # an inventory out of step with the board (edited by hand, say)
    logic.finger(7, 1000)
    refused = logic.scan(DOC, 1500)
    assert refused.unlock == []
    assert refused.events[-1].data.model_dump(exclude_none=True)["reason"] == "slot_empty"


def test_the_first_reading_ever_reports_only_inventory_files_that_are_not_there() -> None:
    """A version-1 file (a bare inventory) and no picture: files already in other slots predate us."""
    logic = CabinetLogic("cab-1", RULES, state=CabinetState.from_json({DOC: "s02", "X-1": "s03"}))
    assert data(read(logic, 0, full=("s01", "s03"), open_=("s01",))) == [
        ("cabinet.slot", "s02", {"state": "out", "document": DOC, "scanned": False, "reconciled": True})
    ]
    assert logic.inventory == {"X-1": "s03"}


def test_held_open_is_not_repeated_after_a_restart() -> None:
    logic = CabinetLogic("cab-1", CabinetRules(officers={}, slots=SLOTS, door_held_ms=1000))
    read(logic, 0)
    read(logic, 100, open_=("s01",))
    assert [e.data.model_dump()["state"] for e in logic.tick(2000).events] == ["held_open"]
    logic = restart(logic)
    assert data(read(logic, 3000, open_=("s01",))) == [] and logic.tick(4000).events == []


def test_state_survives_json_round_trip() -> None:
    logic = with_document_in_s02()
    logic.finger(7, 1000)
    logic.scan("A3301020250002-01", 1200)
    read(logic, 1500, open_=("s01",), full=("s02",))
    again = restart(logic)
    assert again.state == logic.state


def test_a_fingerprint_given_before_a_restart_still_pairs_with_the_scan_after_it() -> None:
    logic = CabinetLogic("cab-1", RULES)
    read(logic, 0)
    logic.finger(7, 1000)
    logic = restart(logic)
    read(logic, 2000)
    assert logic.scan(DOC, 3000).unlock == ["s01"]


def test_a_state_saved_under_another_slot_list_is_pruned_to_the_configured_slots() -> None:
    """Slots renamed or removed: nothing is granted, pulsed or reported for them; a slot added
    since starts from its first reading, like a new cabinet (an open door there is not "forced")."""
    logic = with_document_in_s02()
    logic.finger(7, 1000)
    logic.scan("A3301020250002-01", 1200)  # a return granted into s01
    text = json.dumps(logic.state.to_json())
    fewer = CabinetRules(officers={7: "P1001"}, slots=("s01", "s03", "s04"))
    again = CabinetLogic("cab-1", fewer, state=CabinetState.from_json(json.loads(text)))
    assert again.inventory == {} and set(again.grants) == {"s01"}
    assert again.state.doors == {"s01": False, "s03": False}
    doors = {"s01": False, "s03": False, "s04": True}
    assert data(again.sensors(doors, {"s01": False, "s03": False, "s04": True}, 2000)) == []
    assert data(again.sensors(doors, {"s01": False, "s03": False, "s04": False}, 2500)) == [
        ("cabinet.slot", "s04", {"state": "out", "scanned": False})
    ]


def test_held_open_is_never_reported_from_a_picture_that_is_not_current() -> None:
    logic = CabinetLogic("cab-1", CabinetRules(officers={}, slots=SLOTS, door_held_ms=1000))
    read(logic, 0)
    read(logic, 100, open_=("s01",))
    logic.board_lost()  # the door may shut while the board is away
    assert logic.tick(5000).events == []
    assert data(read(logic, 5100)) == [
        ("cabinet.door", "s01", {"state": "closed", "open_since": 100, "reconciled": True})
    ]
    read(logic, 6000, open_=("s02",))
    logic = restart(logic)
    assert logic.tick(9000).events == []  # restarted: not before the first reading
    seen = read(logic, 9100, open_=("s02",)).events + logic.tick(9200).events
    assert [e.data.model_dump()["state"] for e in seen] == ["held_open"]


def test_a_pulse_that_waited_out_its_grant_never_fires() -> None:
    logic = CabinetLogic("cab-1", RULES)
    read(logic, 0)
    logic.finger(7, 1000)
    assert logic.scan(DOC, 1500).unlock == ["s01"]
    assert logic.pulse_due("s01", 20_000)
    assert not logic.pulse_due("s01", 1500 + 30_001)  # the board answered again too late
    read(logic, 2000, open_=("s01",))
    assert not logic.pulse_due("s01", 2500) and not logic.pulse_due("s02", 2500)


@pytest.mark.parametrize(
    ("stored", "error"),
    [
        ({"version": 3, "inventory": {}}, "written by another casewatch"),
        ({"version": "2", "inventory": {}}, "written by another casewatch"),
        ({"version": 2, "inventory": {}, "doors": {"s01": "false"}}, "doors"),
        ({"version": 2, "inventory": {}, "doors": ["s01"]}, "doors"),
        ({"A-1": 5}, "version-1 inventory"),
        (["A-1"], "JSON object"),
    ],
)
def test_a_state_of_another_version_or_shape_is_refused_not_guessed(stored: Any, error: str) -> None:
    with pytest.raises(StateError, match=error):
        CabinetState.from_json(stored)


def test_one_bad_grant_is_dropped_alone() -> None:
    good = {"slot": "s01", "action": "take", "document": DOC, "officers": ["P1001"], "until_ms": 9}
    bad = {**good, "slot": "s02", "until_ms": "soon"}
    state, notes = parse_state({"version": 2, "inventory": {DOC: "s01"}, "grants": [good, bad]})
    assert state.inventory == {DOC: "s01"} and set(state.grants) == {"s01"}
    assert len(notes) == 1 and "grant dropped" in notes[0]

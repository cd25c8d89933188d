"""A cabinet restarted (or its board back from an outage) compares the board's first reading with
the persisted picture: what changed unobserved is reported ``reconciled``, the inventory follows
the board, grants survive the restart, and nothing is granted from a reading that is not current."""

from __future__ import annotations

import json
from typing import Any

from devices.cabinet_logic import CabinetLogic, CabinetRules, CabinetState, Decision

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
    """What a new process makes of the state file the old one left (through JSON, as on disk)."""
    text = json.dumps(logic.state.to_json())
    return CabinetLogic("cab-1", RULES, state=CabinetState.from_json(json.loads(text)))


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
    logic = with_document_in_s02()
    logic.finger(7, 1000)
    logic.scan("A3301020250002-01", 1200)  # a return granted into s01
    text = json.dumps(logic.state.to_json())
    fewer = CabinetRules(officers={7: "P1001"}, slots=("s01", "s03", "s04"))
    again = CabinetLogic("cab-1", fewer, state=CabinetState.from_json(json.loads(text)))
    assert again.inventory == {} and set(again.grants) == {"s01"}
    assert again.state.doors == {"s01": False, "s03": False, "s04": False}
    assert data(
        again.sensors(dict.fromkeys(fewer.slots, False), {"s01": False, "s03": False, "s04": True}, 2000)
    ) == [("cabinet.slot", "s04", {"state": "in", "scanned": False, "reconciled": True})]

"""Dossier cabinet rules without hardware: grants, takes and returns, forced and held doors."""

from __future__ import annotations

from typing import Any

from devices.cabinet_logic import CabinetLogic, CabinetRules, Decision

SLOTS = ("s01", "s02", "s03")
DOC = "A3301020250001-01"


def cabinet(**rules: Any) -> CabinetLogic:
    base: dict[str, Any] = {"officers": {7: "P1001", 8: "P1002", 9: "P2001"}, "slots": SLOTS}
    base.update(rules)
    logic = CabinetLogic("cab-1", CabinetRules(**base))
    logic.sensors(dict.fromkeys(SLOTS, False), dict.fromkeys(SLOTS, False), 0)
    return logic


def kinds(decision: Decision) -> list[tuple[str, dict[str, Any]]]:
    return [(e.kind, e.data.model_dump(exclude_none=True)) for e in decision.events]


def sensors(
    logic: CabinetLogic, now: int, *, open_: tuple[str, ...] = (), full: tuple[str, ...] = ()
) -> Decision:
    return logic.sensors({s: s in open_ for s in SLOTS}, {s: s in full for s in SLOTS}, now)


def test_return_finger_then_qr_opens_the_first_free_slot_and_records_the_deposit() -> None:
    logic = cabinet()
    assert kinds(logic.finger(7, 1000)) == []
    decision = logic.scan(DOC, 2000)
    assert decision.unlock == ["s01"]
    scan, access = decision.events
    assert scan.kind == "cabinet.scan" and scan.subject == {
        "cabinet": "cab-1",
        "dossier": DOC,
        "case": "A3301020250001",
    }
    assert access.kind == "cabinet.access"
    assert access.data.model_dump(exclude_none=True) == {
        "granted": True,
        "reason": "granted",
        "action": "return",
        "officers": ["P1001"],
        "document": DOC,
        "slot": "s01",
    }
    assert [k for k, _ in kinds(sensors(logic, 3000, open_=("s01",)))] == ["cabinet.door"]
    slot = sensors(logic, 4000, open_=("s01",), full=("s01",)).events[0]
    assert slot.kind == "cabinet.slot"
    assert slot.data.model_dump(exclude_none=True) == {"state": "in", "document": DOC, "scanned": True}
    assert kinds(sensors(logic, 5000, full=("s01",))) == [
        ("cabinet.door", {"state": "closed", "open_since": 3000})
    ]
    assert logic.inventory == {DOC: "s01"}


def test_take_qr_first_opens_the_documents_own_slot() -> None:
    logic = cabinet()
    logic.inventory[DOC] = "s02"
    sensors(logic, 0, full=("s02",))
    logic.scan(DOC, 1000)
    decision = logic.finger(8, 2000)
    assert decision.unlock == ["s02"]
    assert decision.events[0].data.model_dump(exclude_none=True)["action"] == "take"
    assert kinds(sensors(logic, 3000, open_=("s02",), full=("s02",)))[0][1]["state"] == "open"
    out = kinds(sensors(logic, 4000, open_=("s02",)))
    assert out == [("cabinet.slot", {"state": "out", "document": DOC, "scanned": True})]
    assert logic.inventory == {}


def test_two_officers_required_waits_for_a_second_different_officer() -> None:
    logic = cabinet(two_officers=True)
    logic.finger(7, 0)
    logic.finger(7, 500)  # the same finger twice is still one officer
    assert logic.scan(DOC, 1000).unlock == []
    decision = logic.finger(8, 2000)
    assert decision.unlock == ["s01"]
    assert decision.events[0].data.model_dump(exclude_none=True)["officers"] == ["P1001", "P1002"]


def test_missing_second_officer_is_a_denial_after_the_auth_window() -> None:
    logic = cabinet(two_officers=True, auth_window_ms=10_000)
    logic.finger(7, 0)
    logic.scan(DOC, 1000)
    assert kinds(logic.tick(5000)) == []
    out = kinds(logic.tick(10_001))
    assert out == [
        (
            "cabinet.access",
            {"granted": False, "reason": "second_officer_missing", "officers": ["P1001"], "document": DOC},
        )
    ]
    assert kinds(logic.tick(20_000)) == []  # reported once


def test_unknown_finger_and_unauthorised_officer_are_denied() -> None:
    logic = cabinet(authorised=frozenset({"P1001", "P1002"}))
    assert kinds(logic.finger(None, 0)) == [
        ("cabinet.access", {"granted": False, "reason": "no_match", "officers": []})
    ]
    assert kinds(logic.finger(9, 100)) == [
        ("cabinet.access", {"granted": False, "reason": "not_authorised", "officers": ["P2001"]})
    ]
    assert kinds(logic.finger(42, 200))[0][1]["reason"] == "not_authorised"  # page nobody mapped
    assert logic.scan(DOC, 300).unlock == []  # no officer pending: nothing opens


def test_no_free_slot_is_slot_busy() -> None:
    logic = cabinet()
    sensors(logic, 0, full=SLOTS)
    logic.finger(7, 1000)
    decision = logic.scan(DOC, 1500)
    assert decision.unlock == []
    assert decision.events[-1].data.model_dump(exclude_none=True)["reason"] == "slot_busy"


def test_door_opened_without_a_grant_is_forced_and_a_silent_take_is_unscanned() -> None:
    logic = cabinet()
    logic.inventory[DOC] = "s03"
    sensors(logic, 0, full=("s03",))
    assert kinds(sensors(logic, 1000, open_=("s03",), full=("s03",))) == [
        ("cabinet.door", {"state": "forced", "open_since": 1000})
    ]
    assert kinds(sensors(logic, 2000, open_=("s03",))) == [
        ("cabinet.slot", {"state": "out", "document": DOC, "scanned": False})
    ]


def test_grant_expires_if_the_door_is_not_opened_in_time() -> None:
    logic = cabinet(grant_window_ms=5000)
    logic.finger(7, 0)
    logic.scan(DOC, 100)
    logic.tick(6000)
    assert kinds(sensors(logic, 6500, open_=("s01",)))[0][1]["state"] == "forced"


def test_door_held_open_is_reported_once_then_closed() -> None:
    logic = cabinet(door_held_ms=120_000)
    logic.finger(7, 0)
    logic.scan(DOC, 100)
    sensors(logic, 1000, open_=("s01",))
    assert kinds(logic.tick(100_000)) == []
    assert kinds(logic.tick(121_000)) == [("cabinet.door", {"state": "held_open", "open_since": 1000})]
    assert kinds(logic.tick(200_000)) == []
    assert kinds(sensors(logic, 201_000))[0][1] == {"state": "closed", "open_since": 1000}


def test_baseline_reports_nothing_and_codes_that_are_not_keys_stay_out_of_the_subject() -> None:
    logic = CabinetLogic("cab-1", CabinetRules(officers={}, slots=SLOTS))
    assert sensors(logic, 0, open_=("s01",), full=("s02",)).events == []
    scan = logic.scan("卷宗 A1", 10).events[0]
    assert scan.subject == {"cabinet": "cab-1"} and scan.data.model_dump()["code"] == "卷宗 A1"

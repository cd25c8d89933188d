"""The shipped rule pack (``configs/rules/*.yaml``), loaded as shipped: all rules active at once.

Each rule gets a scenario of realistic facts on a virtual clock. The scenario must walk the rule
through every one of its levels, in order, at the right event times, and back (a clear), and no
other rule may raise a level for it: one situation, one alert.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hub.rules.engine import RuleEngine, load_rule_files
from hub.rules.facts import Fact
from hub.rules.levels import rank
from hub.rules.spec import Rule
from hub.rules.state import Signal

ROOT = Path(__file__).resolve().parent.parent
FILES = sorted((ROOT / "configs" / "rules").glob("*.yaml"))
PACK = load_rule_files(FILES)
RULES: dict[str, Rule] = {r.id: r for r in PACK.rules}
FILE_OF: dict[str, str] = {r.id: p.name for p in FILES for r in load_rule_files([p]).rules}
TZ = "Asia/Shanghai"

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z = 08:00 in Shanghai
S, M, H = 1000, 60_000, 3_600_000
CASE = "A3301020260001"
CASE2 = "A3301020260002"
ROOMS = {
    "chk-1": "safety_check",
    "wait-1": "waiting",
    "wait-2": "waiting",
    "int-1": "interrogation",
    "inq-1": "inquiry",
    "wc-1": "toilet",
    "corr-1": "corridor",
    "exit-1": "exit",
}

REQUIRED = {
    "INT-TWO",
    "INQ-TWO",
    "UNATTENDED",
    "CO-SUSPECT",
    "SEX-SEPARATION",
    "DUR-CRIM",
    "DUR-ADMIN",
    "DUR-PANWEN",
    "LEFT-AREA",
    "ENTRY-ORDER",
    "MINOR-ADULT",
    "CAM-COVERAGE",
    "DOSSIER-24H",
    "DOSSIER-AUTH",
    "DOSSIER-OVERDUE",
    "WB-TAMPER",
    "WB-HEALTH",
    "VITALS",
    "REST-MEAL",
    "UNATTENDED-RISK",
    "DUR-PANWEN-SPECIAL",
    "WB-HEALTH-BATTERY",
    "WB-HEALTH-UNBOUND",
    "REST-MEAL-SESSION",
    "REST-MEAL-NIGHT",
    "CAM-COVERAGE-OCCUPIED",
}
NO_STATUTE = {"DOSSIER-24H", "DOSSIER-AUTH", "DOSSIER-AUTH-DOOR", "DOSSIER-AUTH-SLOT", "DOSSIER-OVERDUE"}
"""RULES.md gives these no statute ([S], [P], [D]); their basis must say so (无法定)."""


@dataclass(frozen=True)
class Detainee:
    person: str = "p1"
    band: str = "B0042"
    case: str = CASE
    sex: str = "male"
    procedure: str = "summons"
    minor: bool = False
    special_group: bool = False
    high_risk: bool = False
    intoxicated: bool = False

    def flags(self) -> dict[str, bool]:
        return {
            "minor": self.minor,
            "special_group": self.special_group,
            "high_risk": self.high_risk,
            "intoxicated": self.intoxicated,
        }

    def who(self) -> dict[str, Any]:
        return {
            "person": self.person,
            "case": self.case,
            "sex": self.sex,
            "procedure": self.procedure,
            "flags": self.flags(),
        }


class Run:
    """One engine with the whole pack, fed facts in time order; timers fire at their due times."""

    def __init__(self) -> None:
        self.engine = RuleEngine(PACK, TZ)
        self.signals: list[Signal] = []
        self.now = T0
        self.pos = 0
        self.room_of: dict[str, str] = {}
        self.conditions: dict[str, tuple[int, str]] = {}

    def at(self, ts: int) -> None:
        while (due := self.engine.next_due()) is not None and due <= ts:
            self.signals += self.engine.tick(due)
        self.now = max(self.now, ts)

    def feed(self, kind: str, ts: int, *, received: int | None = None, **values: Any) -> None:
        """A fact dated ``ts`` reaching the hub at ``received`` (default: at once, in order)."""
        if received is None:
            assert ts >= self.now, "scenario facts go in time order (use received= for a late one)"
        now = ts if received is None else received
        self.at(now)
        self.pos += 1
        self.signals += self.engine.on_fact(Fact(kind, ts, values, self.pos), now)

    # conditions (agent) -------------------------------------------------------------------------
    def cond_start(
        self, ts: int, name: str, room: str, flags: dict[str, bool] | None = None, **facts: Any
    ) -> str:
        cid = f"019b7683-1c80-7a3e-9c4d-{len(self.conditions) + 1:012x}"
        self.conditions[cid] = (ts, name)
        values: dict[str, Any] = {"room": room, "room_type": ROOMS[room]}
        if flags is not None:
            values["flags"] = flags
        data = {"condition": name, "condition_id": cid, "facts": facts, "evidence": {}}
        self.feed("condition.start", ts, **values, data=data)
        return cid

    def cond_end(self, ts: int, cid: str, room: str) -> None:
        started, name = self.conditions[cid]
        data = {
            "condition": name,
            "condition_id": cid,
            "started": started,
            "duration_ms": ts - started,
            "reason": "resolved",
        }
        self.feed("condition.end", ts, room=room, room_type=ROOMS[room], data=data)

    # hub records (API) --------------------------------------------------------------------------
    def intake(self, ts: int, d: Detainee) -> None:
        data = {"procedure": d.procedure, "arrived": ts, "sex": d.sex, "case": d.case, **d.flags()}
        self.feed("person.intake", ts, agent="hub", source="duty-1", **d.who(), data=data)

    def bind(self, ts: int, d: Detainee) -> None:
        self.feed(
            "band.bind", ts, agent="hub", band=d.band, role="detainee", **d.who(), data={"role": "detainee"}
        )

    def record(self, ts: int, d: Detainee, type_: str) -> None:
        self.feed("record", ts, agent="hub", **d.who(), data={"type": type_, "note": ""})

    def approval(self, ts: int, type_: str, hours: int | None = None, **subject: Any) -> None:
        data: dict[str, Any] = {"type": type_, "approved_by": "P2001", "note": "审批"}
        if hours is not None:
            data["hours"] = hours
        self.feed("approval", ts, agent="hub", **subject, data=data)

    def release(self, ts: int, d: Detainee, family_pickup: bool = False) -> None:
        data = {"reason": "released", "family_pickup": family_pickup}
        self.feed("person.release", ts, agent="hub", **d.who(), data=data)

    def arrive(self, ts: int, *ds: Detainee) -> None:
        """Intake, band bound 2 min later, safety check at 4 min (the normal entry)."""
        for d in ds:
            self.intake(ts, d)
        for d in ds:
            self.bind(ts + 2 * M, d)
        for d in ds:
            self.record(ts + 4 * M, d, "safety_check")

    # band facts (agent) -------------------------------------------------------------------------
    def position(self, ts: int, d: Detainee, room: str | None) -> None:
        where = {} if room is None else {"room": room, "room_type": ROOMS[room]}
        data = {"zone": f"{room}-a" if room else None, "room": room, "previous_zone": None}
        self.feed("band.position", ts, band=d.band, role="detainee", **d.who(), **where, data=data)
        if room is not None:
            self.room_of[d.band] = room

    def band(self, kind: str, ts: int, d: Detainee, **data: Any) -> None:
        room = self.room_of.get(d.band)
        where = {} if room is None else {"room": room, "room_type": ROOMS[room]}
        self.feed(kind, ts, band=d.band, role="detainee", **d.who(), **where, data=data)

    # cabinet facts (agent) ----------------------------------------------------------------------
    def cabinet(
        self, kind: str, ts: int, at: str | None = None, document: str | None = None, **data: Any
    ) -> None:
        """A cabinet fact; ``at`` the slot (subject), ``document`` the code ``{case}-{nn}``."""
        subject: dict[str, Any] = {"cabinet": "cab-1"}
        if at:
            subject["slot"] = at
        if document:
            subject |= {"dossier": document, "case": document.split("-")[0]}
            subject["document_case"] = subject["case"]
        if kind in ("cabinet.access", "cabinet.slot"):
            data["document"] = document
        self.feed(kind, ts, **subject, data=data)

    def deposit(self, ts: int, slot: str, document: str) -> None:
        """Fingerprint + QR -> return grant, door opened, document in, door closed."""
        ok = {"granted": True, "reason": "granted", "officers": ["P1001"], "slot": slot}
        self.cabinet("cabinet.access", ts, slot, document, action="return", **ok)
        self.cabinet("cabinet.door", ts + 5 * S, slot, state="open", open_since=ts + 5 * S)
        self.cabinet("cabinet.slot", ts + 10 * S, slot, document, state="in", scanned=True)
        self.cabinet("cabinet.door", ts + 15 * S, slot, state="closed", open_since=ts + 5 * S)

    def take(self, ts: int, slot: str, document: str) -> None:
        ok = {"granted": True, "reason": "granted", "officers": ["P1001"], "slot": slot}
        self.cabinet("cabinet.access", ts, slot, document, action="take", **ok)
        self.cabinet("cabinet.door", ts + 5 * S, slot, state="open", open_since=ts + 5 * S)
        self.cabinet("cabinet.slot", ts + 10 * S, slot, document, state="out", scanned=True)
        self.cabinet("cabinet.door", ts + 15 * S, slot, state="closed", open_since=ts + 5 * S)


Expected = list[tuple[str, str | None, int]]
SCENARIOS: dict[str, Callable[[Run], Expected]] = {}
ALSO: dict[str, set[str]] = {
    # an escape is two alerts on purpose: orange on reaching the exit, red when the band is lost
    "LEFT-AREA-LOST": {"LEFT-AREA"},
}


def scenario(rule_id: str) -> Callable[[Callable[[Run], Expected]], Callable[[Run], Expected]]:
    def register(fn: Callable[[Run], Expected]) -> Callable[[Run], Expected]:
        SCENARIOS[rule_id] = fn
        return fn

    return register


def lv(level: str, ts: int) -> tuple[str, str | None, int]:
    return ("level", level, ts)


def clear(ts: int) -> tuple[str, str | None, int]:
    return ("clear", None, ts)


# A. staffing ---------------------------------------------------------------------------------


@scenario("INT-TWO")
def _int_two(run: Run) -> Expected:
    cid = run.cond_start(T0, "understaffed", "int-1", persons=2, detainees=1, officers=1, required_officers=2)
    run.cond_end(T0 + 6 * M, cid, "int-1")
    return [lv("yellow", T0 + 60 * S), lv("orange", T0 + 5 * M), clear(T0 + 6 * M)]


@scenario("INQ-TWO")
def _inq_two(run: Run) -> Expected:
    short = run.cond_start(
        T0, "understaffed", "inq-1", persons=2, detainees=1, officers=1, required_officers=2
    )
    run.cond_end(T0 + 40 * S, short, "inq-1")  # the second officer back within the grace
    cid = run.cond_start(T0 + 10 * M, "understaffed", "inq-1", persons=2, detainees=1, officers=1)
    run.cond_end(T0 + 12 * M, cid, "inq-1")
    return [lv("orange", T0 + 11 * M), clear(T0 + 12 * M)]


# E. never alone; co-suspects apart -----------------------------------------------------------

CALM = {"minor": False, "special_group": False, "high_risk": False, "intoxicated": False}


@scenario("UNATTENDED")
def _unattended(run: Run) -> Expected:
    cid = run.cond_start(
        T0, "unattended", "int-1", flags=CALM, persons=1, detainees=1, officers=0, bands=["B0042"]
    )
    run.cond_end(T0 + 6 * M, cid, "int-1")
    return [lv("yellow", T0 + 30 * S), lv("orange", T0 + 2 * M), lv("red", T0 + 5 * M), clear(T0 + 6 * M)]


@scenario("UNATTENDED-RISK")
def _unattended_risk(run: Run) -> Expected:
    drunk = {**CALM, "intoxicated": True}
    cid = run.cond_start(
        T0, "unattended", "wc-1", flags=drunk, persons=1, detainees=1, officers=0, bands=["B0042"]
    )
    run.cond_end(T0 + 60 * S, cid, "wc-1")
    return [lv("red", T0 + 30 * S), clear(T0 + 60 * S)]


@scenario("CO-SUSPECT")
def _co_suspect(run: Run) -> Expected:
    cid = run.cond_start(
        T0, "co_suspects", "wait-1", flags=CALM, persons=3, detainees=2, officers=1, cases=[CASE]
    )
    run.cond_end(T0 + 3 * M, cid, "wait-1")
    return [lv("red", T0), clear(T0 + 3 * M)]


@scenario("CO-SUSPECT-CORRIDOR")
def _co_suspect_corridor(run: Run) -> Expected:
    brief = run.cond_start(T0, "co_suspects", "corr-1", persons=4, detainees=2, officers=2, cases=[CASE])
    run.cond_end(T0 + 20 * S, brief, "corr-1")  # passing each other: under 30 s
    cid = run.cond_start(
        T0 + 5 * M, "co_suspects", "corr-1", persons=4, detainees=2, officers=2, cases=[CASE]
    )
    run.cond_end(T0 + 6 * M, cid, "corr-1")
    return [lv("orange", T0 + 5 * M + 30 * S), clear(T0 + 6 * M)]


# C. vulnerable people ------------------------------------------------------------------------


@scenario("SEX-SEPARATION")
def _sex_separation(run: Run) -> Expected:
    cid = run.cond_start(T0, "mixed_sexes", "wait-1", flags=CALM, persons=3, detainees=2, officers=1)
    run.cond_end(T0 + 4 * M, cid, "wait-1")
    return [lv("orange", T0), clear(T0 + 4 * M)]


@scenario("MINOR-ADULT")
def _minor_adult(run: Run) -> Expected:
    minor = {**CALM, "minor": True}
    cid = run.cond_start(
        T0, "minor_unaccompanied", "int-1", flags=minor, persons=3, detainees=1, officers=2, bands=["B0042"]
    )
    run.cond_end(T0 + 7 * M, cid, "int-1")  # the guardian's band arrives
    return [lv("yellow", T0), lv("red", T0 + 5 * M), clear(T0 + 7 * M)]


@scenario("NIGHT-RELEASE")
def _night_release(run: Run) -> Expected:
    evening = T0 + 11 * H  # 19:00 Shanghai
    day = Detainee("p1", "B01", procedure="inquiry", sex="female", special_group=True)
    night = Detainee("p2", "B02", procedure="inquiry", sex="female", special_group=True)
    fetched = Detainee("p3", "B03", procedure="inquiry", minor=True)
    adult = Detainee("p4", "B04", procedure="inquiry")
    run.arrive(evening, day, night, fetched, adult)
    run.release(T0 + 12 * H, day)  # 20:00: not night
    run.release(T0 + 14 * H, night)  # 22:00, nobody to fetch her
    run.release(T0 + 14 * H + M, fetched, family_pickup=True)
    run.release(T0 + 14 * H + 2 * M, adult)
    return [lv("yellow", T0 + 14 * H), clear(T0 + 14 * H)]


# B. time in the centre -----------------------------------------------------------------------


@scenario("DUR-CRIM")
def _dur_crim(run: Run) -> Expected:
    d = Detainee(procedure="summons")
    run.arrive(T0, d)
    run.record(T0 + 5 * H, d, "meal")
    run.approval(T0 + 9 * H, "extension", 24, person=d.person)  # the 24 h ladder: 16/20/22/24
    for h in (10, 15, 20):
        run.record(T0 + h * H, d, "meal")
    run.release(T0 + 25 * H, d)
    return [
        lv("blue", T0 + 8 * H),
        lv("yellow", T0 + 20 * H),
        lv("orange", T0 + 22 * H),
        lv("red", T0 + 24 * H),
        clear(T0 + 25 * H),
    ]


@scenario("DUR-ADMIN")
def _dur_admin(run: Run) -> Expected:
    d = Detainee(procedure="inquiry")
    run.arrive(T0, d)
    run.record(T0 + 5 * H, d, "meal")
    run.release(T0 + 8 * H + 30 * M, d)
    return [
        lv("blue", T0 + 5 * H + 20 * M),
        lv("yellow", T0 + 6 * H + 40 * M),
        lv("orange", T0 + 7 * H + 20 * M),
        lv("red", T0 + 8 * H),
        clear(T0 + 8 * H + 30 * M),
    ]


@scenario("DUR-PANWEN")
def _dur_panwen(run: Run) -> Expected:
    d = Detainee(procedure="panwen")
    run.arrive(T0, d)
    run.record(T0 + 5 * H, d, "meal")
    run.record(T0 + 10 * H, d, "meal")
    run.approval(T0 + 10 * H + 30 * M, "extension", 24, person=d.person)  # 16/20/22/24
    run.record(T0 + 15 * H, d, "meal")
    run.record(T0 + 20 * H, d, "meal")
    run.approval(T0 + 21 * H, "extension", 48, person=d.person)  # 32/40/44/48
    for h in range(25, 49, 5):
        run.record(T0 + h * H, d, "meal")
    run.release(T0 + 49 * H, d)
    return [
        lv("blue", T0 + 8 * H),
        lv("yellow", T0 + 10 * H),
        lv("orange", T0 + 44 * H),
        lv("red", T0 + 48 * H),
        clear(T0 + 49 * H),
    ]


@scenario("DUR-PANWEN-SPECIAL")
def _dur_panwen_special(run: Run) -> Expected:
    d = Detainee(procedure="panwen", sex="female", special_group=True)
    run.arrive(T0, d)
    run.release(T0 + 4 * H + 30 * M, d)
    return [
        lv("blue", T0 + 2 * H + 40 * M),
        lv("yellow", T0 + 3 * H + 20 * M),
        lv("orange", T0 + 3 * H + 40 * M),
        lv("red", T0 + 4 * H),
        clear(T0 + 4 * H + 30 * M),
    ]


@scenario("DUR-PANWEN-WAITING")
def _dur_panwen_waiting(run: Run) -> Expected:
    special = {**CALM, "special_group": True}
    cid = run.cond_start(
        T0, "special_group_waiting", "wait-1", flags=special, persons=2, detainees=1, officers=1
    )
    run.cond_end(T0 + 2 * M, cid, "wait-1")
    return [lv("orange", T0), clear(T0 + 2 * M)]


@scenario("LEFT-AREA")
def _left_area(run: Run) -> Expected:
    gone = Detainee("p1", "B01")
    sent = Detainee("p2", "B02", case=CASE2)
    run.arrive(T0, gone, sent)
    run.position(T0 + 10 * M, gone, "wait-1")
    run.position(T0 + 10 * M, sent, "wait-2")
    run.approval(T0 + 30 * M, "leave_area", person=sent.person)  # to hospital, approved
    run.position(T0 + 40 * M, sent, "exit-1")
    run.band("band.link", T0 + 41 * M, sent, state="offline", last_seen=T0 + 41 * M)
    run.position(T0 + H, gone, "exit-1")
    run.position(T0 + H + 30 * S, gone, "corr-1")  # brought back
    run.position(T0 + H + M, gone, "wait-1")
    run.release(T0 + 2 * H, gone)
    run.release(T0 + 2 * H, sent)
    return [lv("orange", T0 + H), clear(T0 + H)]


@scenario("LEFT-AREA-LOST")
def _left_area_lost(run: Run) -> Expected:
    gone = Detainee("p1", "B01")
    sent = Detainee("p2", "B02", case=CASE2)
    run.arrive(T0, gone, sent)
    run.position(T0 + 10 * M, gone, "wait-1")
    run.approval(T0 + 30 * M, "leave_area", person=sent.person)
    run.position(T0 + 40 * M, sent, "exit-1")
    run.band("band.link", T0 + 41 * M, sent, state="offline", last_seen=T0 + 41 * M)
    run.position(T0 + H, gone, "exit-1")  # LEFT-AREA, orange
    run.band("band.link", T0 + H + 20 * S, gone, state="offline", last_seen=T0 + H + 20 * S)
    run.release(T0 + 3 * H, gone)
    run.release(T0 + 3 * H, sent)
    return [lv("red", T0 + H + 20 * S), clear(T0 + H + 20 * S)]


# D. entry order ------------------------------------------------------------------------------


@scenario("ENTRY-ORDER")
def _entry_order(run: Run) -> Expected:
    skipped = Detainee("p1", "B01")
    checked = Detainee("p2", "B02", case=CASE2)
    run.intake(T0, skipped)
    run.intake(T0, checked)
    run.bind(T0 + 2 * M, skipped)
    run.bind(T0 + 2 * M, checked)
    run.record(T0 + 4 * M, checked, "safety_check")
    run.position(T0 + 5 * M, skipped, "wait-1")  # straight to the waiting room
    run.position(T0 + 6 * M, checked, "chk-1")
    run.position(T0 + 8 * M, checked, "wait-2")
    run.release(T0 + H, skipped)
    run.release(T0 + H, checked)
    return [lv("orange", T0 + 5 * M), clear(T0 + 5 * M)]


# F. coverage ---------------------------------------------------------------------------------


@scenario("CAM-COVERAGE")
def _cam_coverage(run: Run) -> Expected:
    cid = run.cond_start(
        T0, "coverage_lost", "corr-1", persons=1, detainees=0, officers=1, cameras=["cam-corr-1"]
    )
    run.cond_end(T0 + 3 * M, cid, "corr-1")
    return [lv("yellow", T0 + 30 * S), lv("orange", T0 + 2 * M), clear(T0 + 3 * M)]


@scenario("CAM-COVERAGE-OCCUPIED")
def _cam_coverage_occupied(run: Run) -> Expected:
    cid = run.cond_start(
        T0, "coverage_lost", "int-1", flags=CALM, persons=3, detainees=1, officers=2, cameras=["cam-int-1"]
    )
    run.cond_end(T0 + 90 * S, cid, "int-1")
    return [lv("red", T0 + 30 * S), clear(T0 + 90 * S)]


# G. dossier cabinet --------------------------------------------------------------------------


@scenario("DOSSIER-24H")
def _dossier_24h(run: Run) -> Expected:
    for case in (CASE, CASE2):
        data = {"title": "盗窃案", "unit": "城关派出所", "officers": ["P1001", "P1002"]}
        run.feed("case.accept", T0, agent="hub", case=case, data=data)
    run.deposit(T0 + 3 * H, "s01", f"{CASE2}-01")  # in time
    run.deposit(T0 + 50 * H, "s02", f"{CASE}-01")
    return [
        lv("blue", T0 + 16 * H),
        lv("yellow", T0 + 20 * H),
        lv("orange", T0 + 24 * H),
        lv("red", T0 + 48 * H),
        clear(T0 + 50 * H + 10 * S),
    ]


@scenario("DOSSIER-AUTH")
def _dossier_auth(run: Run) -> Expected:
    run.cabinet("cabinet.access", T0, granted=False, reason="no_match")  # a wet finger: no alert
    run.cabinet("cabinet.access", T0 + M, granted=False, reason="not_authorised", officers=["P9009"])
    run.deposit(T0 + 2 * M, "s01", f"{CASE}-01")
    return [lv("orange", T0 + M), clear(T0 + M)]


@scenario("DOSSIER-AUTH-DOOR")
def _dossier_auth_door(run: Run) -> Expected:
    run.cabinet("cabinet.door", T0, "s07", state="forced", open_since=T0)
    run.cabinet("cabinet.door", T0 + M, "s07", state="closed", open_since=T0)
    ok = {"granted": True, "reason": "granted", "officers": ["P1001"], "slot": "s02", "action": "take"}
    run.cabinet("cabinet.access", T0 + 10 * M, "s02", f"{CASE}-02", **ok)
    run.cabinet("cabinet.door", T0 + 10 * M + 5 * S, "s02", state="open", open_since=T0 + 10 * M + 5 * S)
    held = T0 + 12 * M + 5 * S
    run.cabinet("cabinet.door", held, "s02", state="held_open", open_since=T0 + 10 * M + 5 * S)
    run.cabinet("cabinet.door", held + M, "s02", state="closed", open_since=T0 + 10 * M + 5 * S)
    return [lv("orange", T0), lv("red", T0), clear(T0 + M), lv("orange", held), clear(held + M)]


@scenario("DOSSIER-AUTH-SLOT")
def _dossier_auth_slot(run: Run) -> Expected:
    run.cabinet("cabinet.slot", T0, "s03", f"{CASE}-03", state="out", scanned=False)
    run.cabinet("cabinet.slot", T0 + 5 * M, "s03", state="in", scanned=False)  # put back
    return [lv("orange", T0), clear(T0)]


@scenario("DOSSIER-OVERDUE")
def _dossier_overdue(run: Run) -> Expected:
    run.take(T0, "s04", f"{CASE}-04")
    run.take(T0 + M, "s05", f"{CASE2}-01")
    run.deposit(T0 + 48 * H, "s05", f"{CASE2}-01")  # back in time
    run.deposit(T0 + 100 * H, "s04", f"{CASE}-04")
    taken = T0 + 10 * S
    return [lv("yellow", taken + 72 * H), lv("orange", taken + 96 * H), clear(T0 + 100 * H + 10 * S)]


# H. wristbands, health, rest -----------------------------------------------------------------


@scenario("WB-TAMPER")
def _wb_tamper(run: Run) -> Expected:
    d = Detainee()
    run.arrive(T0, d)
    run.position(T0 + 10 * M, d, "wait-1")
    run.band("band.tamper", T0 + H, d, strap_open=True, magnet=False)
    run.band("band.tamper", T0 + H + 2 * M, d, strap_open=False, magnet=False)
    run.release(T0 + 2 * H, d)
    return [lv("red", T0 + H), clear(T0 + H + 2 * M)]


@scenario("WB-HEALTH")
def _wb_health(run: Run) -> Expected:
    d = Detainee()
    run.arrive(T0, d)
    run.position(T0 + 10 * M, d, "wait-1")
    run.band("band.link", T0 + H, d, state="offline", last_seen=T0 + H)
    run.band("band.link", T0 + H + 3 * M, d, state="online")
    run.release(T0 + 2 * H, d)
    return [lv("yellow", T0 + H + 30 * S), lv("orange", T0 + H + 2 * M), clear(T0 + H + 3 * M)]


@scenario("WB-HEALTH-BATTERY")
def _wb_health_battery(run: Run) -> Expected:
    d = Detainee()
    run.arrive(T0, d)
    run.position(T0 + 10 * M, d, "wait-1")
    run.band("band.battery", T0 + 20 * M, d, percent=25)
    run.band("band.battery", T0 + H, d, percent=18)
    run.band("band.battery", T0 + H + 30 * M, d, percent=9)
    run.band("band.battery", T0 + H + 40 * M, d, percent=100)  # battery replaced
    run.release(T0 + 2 * H, d)
    return [lv("yellow", T0 + H), lv("orange", T0 + H + 30 * M), clear(T0 + H + 40 * M)]


@scenario("WB-HEALTH-UNBOUND")
def _wb_health_unbound(run: Run) -> Expected:
    d = Detainee()
    run.intake(T0, d)
    run.bind(T0 + 7 * M, d)
    run.record(T0 + 9 * M, d, "safety_check")
    run.release(T0 + H, d)
    return [lv("yellow", T0 + 5 * M), clear(T0 + 7 * M)]


@scenario("VITALS")
def _vitals(run: Run) -> Expected:
    d = Detainee()
    run.arrive(T0, d)
    run.position(T0 + 10 * M, d, "wait-1")
    t = T0 + H
    for offset, rate in ((0, 125), (30, 145), (60, 150), (120, 166), (150, 170)):
        run.band("band.vitals", t + offset * S, d, heart_rate=rate, spo2=96)
    run.band("band.vitals", t + 165 * S, d, spo2=95)  # no heart rate in this sample
    run.band("band.vitals", t + 210 * S, d, heart_rate=168, spo2=95)
    run.band("band.vitals", t + 240 * S, d, heart_rate=80, spo2=97)
    run.release(T0 + 2 * H, d)
    return [lv("yellow", t + 60 * S), lv("orange", t + 90 * S), lv("red", t + 180 * S), clear(t + 240 * S)]


@scenario("REST-MEAL")
def _rest_meal(run: Run) -> Expected:
    d = Detainee()
    run.arrive(T0, d)
    run.record(T0 + 6 * H + 30 * M, d, "meal")
    run.release(T0 + 7 * H + 30 * M, d)
    return [lv("yellow", T0 + 6 * H), clear(T0 + 6 * H + 30 * M)]


@scenario("REST-MEAL-SESSION")
def _rest_meal_session(run: Run) -> Expected:
    d = Detainee()
    run.arrive(T0, d)
    run.position(T0 + 10 * M, d, "wait-1")
    run.position(T0 + 30 * M, d, "int-1")
    run.position(T0 + 2 * H, d, None)  # position lost for a moment: not a break
    run.position(T0 + 2 * H + M, d, "int-1")
    run.record(T0 + 3 * H, d, "meal")
    run.position(T0 + 4 * H + 40 * M, d, "wait-1")
    run.release(T0 + 5 * H, d)
    return [lv("yellow", T0 + 4 * H + 30 * M), clear(T0 + 4 * H + 40 * M)]


@scenario("REST-MEAL-NIGHT")
def _rest_meal_night(run: Run) -> Expected:
    d = Detainee()
    run.arrive(T0 + 15 * H + 30 * M, d)  # 23:30 Shanghai
    run.position(T0 + 15 * H + 40 * M, d, "wait-1")
    run.position(T0 + 16 * H + 30 * M, d, "int-1")  # 00:30
    run.position(T0 + 17 * H + 30 * M, d, "wait-1")  # 01:30
    run.release(T0 + 18 * H, d)
    return [lv("blue", T0 + 16 * H + 30 * M), clear(T0 + 17 * H + 30 * M)]


# the tests -----------------------------------------------------------------------------------


def test_the_pack_has_every_required_rule_and_a_scenario_for_each() -> None:
    assert not REQUIRED - set(RULES), sorted(REQUIRED - set(RULES))
    assert set(SCENARIOS) == set(RULES)
    assert not {"night", "small-hours"} - set(PACK.calendars)


@pytest.mark.parametrize("rule_id", sorted(SCENARIOS))
def test_rule_walks_every_level_and_back_alone(rule_id: str) -> None:
    assert rule_id in RULES, f"{rule_id} is not in configs/rules"
    rule = RULES[rule_id]
    run = Run()
    expected = SCENARIOS[rule_id](run)
    run.at(run.now + 100 * H)  # nothing left pending fires later
    mine = [(s.type, s.level, s.at_ms) for s in run.signals if s.rule == rule_id]
    assert mine == expected
    assert {s.rule for s in run.signals if s.type == "level"} == {rule_id} | ALSO.get(rule_id, set())
    assert not any(s.late for s in run.signals) and not any(s.type == "correction" for s in run.signals)
    assert run.engine.open_episodes() == 0
    # every level of the rule is reached, each alert rising in order and ending in a clear
    assert {level for kind, level, _ in expected if kind == "level"} == {s.level for s in rule.levels}
    by_alert: dict[str, list[Signal]] = {}
    for s in run.signals:
        if s.rule == rule_id:
            by_alert.setdefault(s.alert, []).append(s)
    for signals in by_alert.values():
        ranks = [rank(s.level) for s in signals if s.level is not None]
        assert ranks == sorted(set(ranks)) and signals[-1].type == "clear"


def test_a_deadline_survives_a_restart_and_fires_what_it_missed_late() -> None:
    run = Run()
    d = Detainee(procedure="summons")
    run.arrive(T0, d)
    run.record(T0 + 5 * H, d, "meal")
    saved = run.engine.take_dirty()
    again = RuleEngine(PACK, TZ)  # the hub was down from +5 h to +9 h
    rows = [(rule, key, doc) for (rule, key), doc in saved.items() if doc is not None]
    assert again.restore(rows) >= 2
    out = [s for s in again.tick(T0 + 9 * H) if s.rule == "DUR-CRIM"]
    assert [(s.type, s.level, s.at_ms) for s in out] == [("level", "blue", T0 + 8 * H)]
    assert out[0].late and out[0].key == (d.person,)
    assert again.next_due() is not None


def test_an_inquiry_extended_to_24_hours_moves_the_whole_ladder() -> None:
    run = Run()
    d = Detainee(procedure="inquiry")
    run.arrive(T0, d)
    run.approval(T0 + 5 * H, "extension", 24, person=d.person)
    for h in (5, 10, 15, 20):
        run.record(T0 + h * H, d, "meal")
    run.release(T0 + 25 * H, d)
    got = [(s.type, s.level, s.at_ms) for s in run.signals if s.rule == "DUR-ADMIN"]
    assert got == [
        lv("blue", T0 + 16 * H),
        lv("yellow", T0 + 20 * H),
        lv("orange", T0 + 22 * H),
        lv("red", T0 + 24 * H),
        clear(T0 + 25 * H),
    ]


def test_a_borrow_extension_moves_the_due_time() -> None:
    run = Run()
    run.take(T0, "s04", f"{CASE}-04")
    run.approval(T0 + 48 * H, "borrow_extension", 120, dossier=f"{CASE}-04", case=CASE)
    run.at(T0 + 200 * H)
    got = [(s.level, s.at_ms) for s in run.signals if s.rule == "DOSSIER-OVERDUE"]
    assert got == [("yellow", T0 + 10 * S + 120 * H), ("orange", T0 + 10 * S + 160 * H)]


def test_a_safety_check_recorded_late_corrects_the_entry_order_alert() -> None:
    run = Run()
    d = Detainee()
    run.intake(T0, d)
    run.bind(T0 + 2 * M, d)
    run.position(T0 + 5 * M, d, "wait-1")
    late = T0 + 3 * M  # done at +3 min, entered at +7 min
    run.feed("record", late, received=T0 + 7 * M, agent="hub", **d.who(), data={"type": "safety_check"})
    got = [s.type for s in run.signals if s.rule == "ENTRY-ORDER"]
    assert got == ["level", "clear", "correction"]


CHINESE = re.compile(r"[\u4e00-\u9fff]")


@pytest.mark.parametrize("rule_id", sorted(RULES))
def test_every_rule_has_a_chinese_title_and_a_cited_basis(rule_id: str) -> None:
    rule = RULES[rule_id]
    assert rule.title.strip() and CHINESE.search(rule.title)
    if rule_id in NO_STATUTE:
        assert "无法定" in rule.basis
    else:
        assert any(mark in rule.basis for mark in ("《", "规定", "办法", "第")), rule.basis


def _pack_table() -> dict[str, list[str]]:
    text = (ROOT / "docs" / "rules.md").read_text(encoding="utf-8")
    section = text.split("## The rule pack", 1)[1]
    rows: dict[str, list[str]] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| ") and re.fullmatch(r"[A-Z][A-Z0-9-]+", cells[0]):
            assert cells[0] not in rows, f"{cells[0]} twice in docs/rules.md"
            rows[cells[0]] = cells
    return rows


def test_the_docs_table_matches_the_pack() -> None:
    rows = _pack_table()
    assert set(rows) == set(RULES)
    for rule_id, (_, title, shape, levels, basis, file) in rows.items():
        rule = RULES[rule_id]
        assert (title, shape, basis, file) == (rule.title, rule.shape, rule.basis, FILE_OF[rule_id])
        named = re.findall(r"\b(green|blue|yellow|orange|red)\b", levels)
        assert named == [s.level for s in rule.levels], rule_id

"""The rule engine's shapes on a virtual clock: levels, clears, corrections, restore, calendars."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from foundation.errors import ConfigError
from hub.rules.engine import RuleEngine, load_rule_files
from hub.rules.facts import Fact
from hub.rules.spec import RuleFile, parse_duration

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z = 08:00 in Shanghai
S, M, H = 1000, 60_000, 3_600_000

HOLD = {
    "id": "T-HOLD",
    "title": "测试保持",
    "basis": "test",
    "shape": "hold",
    "key": ["data.condition_id"],
    "start": {"kind": "condition.start", "where": {"data.condition": "understaffed"}},
    "stop": {"kind": "condition.end", "where": {"data.condition": "understaffed"}},
    "levels": [{"level": "yellow", "after": "60s"}, {"level": "orange", "after": "5m"}],
}


def engine(*rules: dict[str, Any], calendars: dict[str, Any] | None = None) -> RuleEngine:
    return RuleEngine(RuleFile.model_validate({"rules": list(rules), "calendars": calendars or {}}))


def fact(kind: str, ts: int, pos: int = 1, **values: Any) -> Fact:
    return Fact(kind, ts, values, pos)


def cond(kind: str, ts: int, cid: str = "c1", **data: Any) -> Fact:
    return fact(f"condition.{kind}", ts, data={"condition": "understaffed", "condition_id": cid, **data})


def levels(signals: list[Any]) -> list[tuple[str, str | None, int]]:
    return [(s.type, s.level, s.at_ms) for s in signals]


def test_durations() -> None:
    assert parse_duration("90s") == 90_000
    assert parse_duration("5m") == 300_000
    assert parse_duration("1.5h") == 5_400_000
    assert parse_duration(30) == 30_000
    for bad in ("soon", "-5m", True, -1):
        with pytest.raises(ValueError):
            parse_duration(bad)


def test_hold_walks_up_through_levels_on_the_clock_and_clears() -> None:
    e = engine(HOLD)
    assert e.on_fact(cond("start", T0), T0) == []
    assert e.tick(T0 + 59 * S) == []
    assert levels(e.tick(T0 + 60 * S)) == [("level", "yellow", T0 + 60 * S)]
    assert e.next_due() == T0 + 5 * M
    assert levels(e.tick(T0 + 5 * M)) == [("level", "orange", T0 + 5 * M)]
    assert e.next_due() is None
    out = e.on_fact(cond("end", T0 + 6 * M), T0 + 6 * M)
    assert levels(out) == [("clear", None, T0 + 6 * M)]
    assert e.pending_timers() == 0 and e.open_episodes() == 0
    alert_ids = {s.alert for s in out}
    assert len(alert_ids) == 1


def test_hold_cleared_before_its_first_level_makes_no_alert() -> None:
    e = engine(HOLD)
    e.on_fact(cond("start", T0), T0)
    assert e.on_fact(cond("end", T0 + 30 * S), T0 + 30 * S) == []
    assert e.tick(T0 + 10 * M) == []


def test_late_stop_is_a_correction_not_a_silent_rewrite() -> None:
    e = engine(HOLD)
    e.on_fact(cond("start", T0), T0)
    assert levels(e.tick(T0 + 61 * S)) == [("level", "yellow", T0 + 60 * S)]
    # the end happened at +50 s but reached the hub only now
    out = e.on_fact(cond("end", T0 + 50 * S), T0 + 70 * S)
    assert [s.type for s in out] == ["correction", "clear"]
    assert out[0].level == "yellow" and "late" in out[0].reason


def test_a_start_arriving_late_fires_at_once_marked_late() -> None:
    e = engine(HOLD)
    out = e.on_fact(cond("start", T0), T0 + 2 * M)
    assert levels(out) == [("level", "yellow", T0 + 60 * S)]
    assert out[0].late


def test_restore_keeps_a_pending_hold_and_fires_a_missed_one_late() -> None:
    e = engine(HOLD)
    e.on_fact(cond("start", T0, "a"), T0)
    e.on_fact(cond("start", T0 + 30 * S, "b"), T0 + 30 * S)
    saved = e.take_dirty()
    assert len(saved) == 2
    # the hub dies at +40 s and comes back at +80 s
    again = engine(HOLD)
    rows = [(rule, key, doc) for (rule, key), doc in saved.items() if doc is not None]
    assert again.restore(rows) == 2
    out = again.tick(T0 + 80 * S)
    assert levels(out) == [("level", "yellow", T0 + 60 * S)]
    assert out[0].late and out[0].key == ("a",)
    out = again.tick(T0 + 90 * S)
    assert levels(out) == [("level", "yellow", T0 + 90 * S)] and not out[0].late


def test_hold_on_samples_with_a_test_per_level() -> None:
    vitals = {
        "id": "T-VITALS",
        "title": "心率",
        "basis": "test",
        "shape": "hold",
        "key": ["band"],
        "start": {"kind": "band.vitals", "any": [{"data.heart_rate": {"gt": 120}}]},
        "levels": [
            {"level": "yellow", "after": "60s"},
            {"level": "orange", "after": "60s", "while": {"where": {"data.heart_rate": {"gt": 140}}}},
        ],
    }
    e = engine(vitals)

    def hr(ts: int, rate: int) -> list[Any]:
        return e.on_fact(fact("band.vitals", ts, band="B1", data={"heart_rate": rate}), ts)

    hr(T0, 130)
    hr(T0 + 20 * S, 150)  # orange's test starts holding here
    assert levels(e.tick(T0 + 60 * S)) == [("level", "yellow", T0 + 60 * S)]
    hr(T0 + 70 * S, 125)  # orange's hold broken before its minute
    assert e.tick(T0 + 90 * S) == []
    hr(T0 + 100 * S, 145)
    assert levels(e.tick(T0 + 160 * S)) == [("level", "orange", T0 + 160 * S)]
    assert levels(hr(T0 + 170 * S, 90)) == [("clear", None, T0 + 170 * S)]


def test_instant_without_stop_is_one_alert_per_fact() -> None:
    tamper = {
        "id": "T-TAMPER",
        "title": "腕带",
        "basis": "test",
        "shape": "instant",
        "key": ["band"],
        "start": {"kind": "cabinet.door", "where": {"data.state": ["forced", "held_open"]}},
        "levels": [
            {"level": "orange"},
            {"level": "red", "while": {"where": {"data.state": "forced"}}},
        ],
    }
    e = engine(tamper)
    one = e.on_fact(fact("cabinet.door", T0, band="cab", data={"state": "held_open"}), T0)
    assert [(s.type, s.level) for s in one] == [("level", "orange"), ("clear", None)]
    two = e.on_fact(fact("cabinet.door", T0 + 1, band="cab", data={"state": "forced"}), T0 + 1)
    assert [(s.type, s.level) for s in two] == [("level", "orange"), ("level", "red"), ("clear", None)]
    assert one[0].alert != two[0].alert


DEADLINE = {
    "id": "T-DUR",
    "title": "时限",
    "basis": "test",
    "shape": "deadline",
    "key": ["person"],
    "start": {"kind": "person.intake"},
    "stop": {"kind": "person.release"},
    "extend": [{"match": {"kind": "approval", "where": {"data.type": "extension"}}, "limit": "24h"}],
    "limit": "12h",
    "levels": [
        {"level": "blue", "after": "8h"},
        {"level": "yellow", "after": "10h"},
        {"level": "orange", "after": "11h"},
        {"level": "red", "at": 1.0},
    ],
}


def test_deadline_ladder_and_an_approved_extension_moves_it() -> None:
    e = engine(DEADLINE)
    e.on_fact(fact("person.intake", T0, person="p1"), T0)
    assert levels(e.tick(T0 + 8 * H)) == [("level", "blue", T0 + 8 * H)]
    e.on_fact(fact("approval", T0 + 9 * H, person="p1", data={"type": "extension"}), T0 + 9 * H)
    assert e.tick(T0 + 12 * H) == []  # the 24 h ladder: yellow at 20 h
    assert [s.level for s in e.tick(T0 + 20 * H)] == ["yellow"]
    assert [s.level for s in e.tick(T0 + 24 * H)] == ["orange", "red"]  # 22 h and 24 h
    out = e.on_fact(fact("person.release", T0 + 25 * H, person="p1"), T0 + 25 * H)
    assert [s.type for s in out] == ["clear"]


def test_sequence_flags_a_skipped_step_and_a_late_first_corrects_it() -> None:
    order = {
        "id": "T-ORDER",
        "title": "顺序",
        "basis": "test",
        "shape": "sequence",
        "key": ["person"],
        "first": {"kind": "record", "where": {"data.type": "safety_check"}},
        "then": {"kind": "band.position", "where": {"room_type": ["waiting", "interrogation"]}},
        "within": "24h",
        "levels": [{"level": "orange"}],
    }
    e = engine(order)
    e.on_fact(fact("record", T0, person="p1", data={"type": "safety_check"}), T0)
    assert e.on_fact(fact("band.position", T0 + M, person="p1", room_type="waiting"), T0 + M) == []
    bad = e.on_fact(fact("band.position", T0 + M, person="p2", room_type="waiting"), T0 + M)
    assert [(s.type, s.level) for s in bad] == [("level", "orange"), ("clear", None)]
    again = fact("band.position", T0 + 90 * S, person="p2", room_type="interrogation")
    assert e.on_fact(again, T0 + 90 * S) == []  # moving on is the same breach, not a new one
    late = e.on_fact(fact("record", T0 + 30 * S, person="p2", data={"type": "safety_check"}), T0 + 2 * M)
    assert [s.type for s in late] == ["correction"] and late[0].alert == bad[0].alert
    assert e.state("T-ORDER", ("p1",)) is not None and e.pending_timers() == 2
    assert e.tick(T0 + 24 * H + 2 * M) == []  # 24 h on, nothing is left to match: both keys go
    assert e.state("T-ORDER", ("p1",)) is None and e.state("T-ORDER", ("p2",)) is None
    assert e.pending_timers() == 0


def test_count_in_a_window_rises_and_clears_when_the_window_passes() -> None:
    denied = {
        "id": "T-COUNT",
        "title": "计数",
        "basis": "test",
        "shape": "count",
        "key": ["cabinet"],
        "match": {"kind": "cabinet.access", "where": {"data.granted": False}},
        "window": "10m",
        "levels": [{"level": "yellow", "count": 3}, {"level": "orange", "count": 5}],
    }
    e = engine(denied)
    out: list[Any] = []
    for i in range(5):
        ts = T0 + i * M
        out += e.on_fact(fact("cabinet.access", ts, cabinet="cab", data={"granted": False}), ts)
    assert levels(out) == [("level", "yellow", T0 + 2 * M), ("level", "orange", T0 + 4 * M)]
    assert e.tick(T0 + 11 * M) == []  # 3 of 5 still inside the window
    assert levels(e.tick(T0 + 12 * M + 5)) == [("clear", None, T0 + 12 * M)]


def test_calendar_limits_starts_to_a_daily_window_in_local_time() -> None:
    night = {**HOLD, "id": "T-NIGHT", "calendar": "night"}
    e = engine(night, calendars={"night": {"from": "21:00", "to": "07:00"}})
    day = T0  # 08:00 Shanghai
    assert e.on_fact(cond("start", day, "d"), day) == [] and e.pending_timers() == 0
    late_evening = T0 + 14 * H  # 22:00 Shanghai
    e.on_fact(cond("start", late_evening, "n"), late_evening)
    assert e.pending_timers() == 1


def test_rule_files_report_clear_problems(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "rules:\n  - id: X-1\n    title: 无效\n    basis: 法条\n    shape: deadline\n"
        "    key: [person]\n    start: {kind: a}\n    levels: [{level: red, at: 1}]\n"
    )
    with pytest.raises(ConfigError, match=r"bad\.yaml.*deadline needs stop, limit"):
        load_rule_files([bad])
    broken = tmp_path / "broken.yaml"
    broken.write_text("rules: [\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_rule_files([broken])
    one = tmp_path / "one.yaml"
    one.write_text(
        "rules:\n  - "
        + "\n    ".join(
            f"{k}: {v!r}"
            for k, v in {"id": "X-1", "title": "标题", "basis": "法条", "shape": "instant"}.items()
        )
        + "\n    key: [band]\n    start: {kind: band.tamper}\n    levels: [{level: red}]\n"
    )
    with pytest.raises(ConfigError, match="already defined"):
        load_rule_files([one, one])
    assert [r.id for r in load_rule_files([one]).rules] == ["X-1"]


def test_a_calendar_defined_in_one_file_serves_rules_of_another(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text('calendars:\n  night: {from: "21:00", to: "07:00"}\n')
    (tmp_path / "b.yaml").write_text(
        "rules:\n  - id: X-2\n    title: 夜间\n    basis: 法条\n    shape: instant\n    calendar: night\n"
        "    key: [band]\n    start: {kind: band.tamper}\n    levels: [{level: red}]\n"
    )
    assert [r.id for r in load_rule_files([tmp_path / "a.yaml", tmp_path / "b.yaml"]).rules] == ["X-2"]
    with pytest.raises(ConfigError, match="calendar 'night' is not defined"):
        load_rule_files([tmp_path / "b.yaml"])
    (tmp_path / "c.yaml").write_text('calendars:\n  night: {from: "22:00", to: "06:00"}\n')
    with pytest.raises(ConfigError, match="another window"):
        load_rule_files([tmp_path / "a.yaml", tmp_path / "c.yaml"])

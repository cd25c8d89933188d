"""Reports against a fixture store whose counts are known: every figure checked, then the same
report as CSV, HTML (with charts) and PDF, on demand through the API and on the schedule."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from foundation.configfile import load_config
from hub.alerts import Alert, Transition
from hub.config import HubConfig
from hub.core import Changes
from hub.report_render import to_csv, to_html, to_pdf
from hub.report_source import ReportScheduler, report
from hub.reports import period_of, previous
from hub.service import HubService
from hub.store import Batch
from tests.hub_helpers import hub_config
from tests.store_helpers import events

TZ = ZoneInfo("Asia/Shanghai")
DAY = date(2026, 11, 30)
H, M = 3_600_000, 60_000


def at(hour: int, minute: int = 0, day: date = DAY) -> int:
    return int(datetime(day.year, day.month, day.day, hour, minute, tzinfo=TZ).timestamp() * 1000)


def alert(aid: str, rule: str, reached: dict[str, int], **context: Any) -> Alert:
    top = max(reached, key=lambda lv: ["green", "blue", "yellow", "orange", "red"].index(lv))
    opened = min(reached.values())
    return Alert(aid, rule, [aid], top, "open", opened, opened, reached=reached, context=context)  # type: ignore[arg-type]


def step(aid: str, when: int, action: str) -> Transition:
    return Transition(aid, when, "operator", action, "acknowledged", "yellow")


@pytest.fixture
def hub(tmp_path: Path) -> HubService:
    hub_config(tmp_path, None, agent_key="k" * 64, rooms=[
        {"id": "int-1", "name": "讯问室1", "type": "interrogation"},
        {"id": "wait-1", "name": "候问室1", "type": "waiting"},
    ])  # fmt: skip
    service = HubService(load_config(tmp_path / "hub.yaml", HubConfig), tmp_path).open()
    projections = [
        ("officer", "o1", {"id": "o1", "name": "王警官", "unit": "unit-a"}),
        ("officer", "o2", {"id": "o2", "name": "李警官", "unit": "unit-b"}),
        ("case", "K1", {"id": "K1", "unit": "unit-a", "officers": ["o1"]}),
        ("case", "K2", {"id": "K2", "unit": "unit-b", "officers": ["o2"]}),
        ("person", "p2", {"id": "p2", "case": "K2"}),
    ]
    alerts = [
        alert("A1", "INT-TWO", {"yellow": at(10), "orange": at(10, 4)}, room="int-1", case="K1"),  # a ticket
        alert("A2", "INT-TWO", {"yellow": at(12)}, room="int-1", case="K1"),
        alert("A3", "WB-TAMPER", {"red": at(23)}, room="wait-1", person="p2"),  # a ticket, fixed late
        alert("A4", "DUR-CRIM", {"blue": at(15)}, person="p2"),
        alert("A5", "INT-TWO", {"yellow": at(1, 0, date(2026, 12, 1))}, room="int-1", case="K1"),  # next day
    ]
    log = [
        step("A1", at(10, 5), "acknowledge"), step("A1", at(11), "rectify"),
        step("A2", at(12, 20), "acknowledge"),
        step("A3", at(23) + 72 * H, "rectify"),
    ]  # fmt: skip
    service.derived.save(Changes(alerts=alerts, transitions=log, projections=projections))
    return service


def test_a_daily_report_counts_what_the_fixture_holds(hub: HubService) -> None:
    made = report(hub, period_of("daily", DAY, "Asia/Shanghai"))
    assert made.total == 4  # A5 belongs to the next day
    assert made.by_level == {"green": 0, "blue": 1, "yellow": 1, "orange": 1, "red": 1}  # highest reached
    assert [(r["rule"], r["count"]) for r in made.by_rule] == [
        ("INT-TWO", 2),
        ("DUR-CRIM", 1),
        ("WB-TAMPER", 1),
    ]
    assert made.by_rule[0]["title"] == "讯问时办案民警少于二人"
    assert {r["room"]: r["count"] for r in made.by_room} == {"讯问室1": 2, "候问室1": 1, "—": 1}
    assert {r["officer"]: r["count"] for r in made.by_officer} == {"王警官": 2, "李警官": 2}
    assert made.tickets == 2 and made.tickets_due == 2 and made.rectified_in_48h == 1
    assert made.rectified_rate == 0.5
    assert made.ack_median_min == 12.5 and made.ack_p90_min == 18.5  # 5 and 20 minutes
    assert [
        (u["rank"], u["unit"], u["count"], u["tickets"], u["late"], u["score"]) for u in made.by_unit
    ] == [
        (1, "unit-a", 2, 1, 0, 97.0),
        (2, "unit-b", 2, 1, 1, 92.5),
    ]
    (day,) = made.trend
    assert day == {
        "day": "2026-11-30", "green": 0, "blue": 1, "yellow": 1, "orange": 1, "red": 1,
        "start_ms": at(0), "end_ms": at(0) + 24 * H,
    }  # fmt: skip


def test_weeks_and_months_and_a_ticket_still_inside_its_48_hours(hub: HubService) -> None:
    week = report(hub, period_of("weekly", DAY, "Asia/Shanghai"))
    assert week.period.start == date(2026, 11, 30) and week.period.end == date(2026, 12, 7)  # a Monday
    assert week.total == 5 and len(week.trend) == 7
    month = report(hub, period_of("monthly", date(2026, 11, 15), "Asia/Shanghai"))
    assert month.period.label == "2026-11" and month.total == 4 and len(month.trend) == 30
    assert previous("monthly", date(2026, 12, 1), "Asia/Shanghai").label == "2026-11"
    assert previous("weekly", date(2026, 12, 1), "Asia/Shanghai").start == date(2026, 11, 23)
    from hub.reports import AlertRow, build

    fresh = AlertRow("X", "INT-TWO", "t", "orange", "r", "u", (), at(10))
    early = build(period_of("daily", DAY, "Asia/Shanghai"), [fresh], now_ms=at(12))
    assert early.tickets == 1 and early.tickets_due == 0 and early.rectified_rate is None  # not late yet
    assert early.by_unit == [
        {"unit": "u", "count": 1, "tickets": 1, "late": 0, "due": 0, "manual": 0, "score": 98.0,
         "rectified_rate": None, "rank": 1}
    ]  # fmt: skip


def test_quarters_years_months_and_the_units_evaluation(hub: HubService) -> None:
    """季排名 and 年度对比: a quarter and a year hold the fixture's alerts, counted per month; each
    unit's score is 100 less its deductions (orange 2 + yellow 1 + yellow 1 for unit-a; red 4 +
    blue 0.5 + 3 for a ticket rectified late for unit-b)."""
    quarter = report(hub, period_of("quarterly", DAY, "Asia/Shanghai"))
    assert (quarter.period.start, quarter.period.end) == (date(2026, 10, 1), date(2027, 1, 1))
    assert quarter.period.label == "2026-Q4" and quarter.total == 5
    assert [(m["month"], m["total"]) for m in quarter.by_month] == [
        ("2026-10", 0),
        ("2026-11", 4),
        ("2026-12", 1),
    ]
    november = quarter.by_month[1]
    assert (november["tickets"], november["tickets_due"], november["rectified_in_48h"]) == (2, 2, 1)
    assert [(u["unit"], u["score"], u["rank"], u["rectified_rate"]) for u in quarter.by_unit] == [
        ("unit-a", 96.0, 1, 1.0),
        ("unit-b", 92.5, 2, 0.0),
    ]
    year = report(hub, period_of("yearly", DAY, "Asia/Shanghai"))
    assert year.period.label == "2026" and len(year.by_month) == 12 and year.total == 5
    assert report(hub, period_of("yearly", date(2025, 6, 1), "Asia/Shanghai")).total == 0  # the year before
    assert period_of("quarterly", date(2026, 3, 31), "UTC").start == date(2026, 1, 1)
    from hub.reports import AlertRow, Scoring, build

    rows = [AlertRow(f"r{i}", "R", "t", "red", "", "u", (), at(10)) for i in range(30)]
    floor = build(period_of("daily", DAY, "Asia/Shanghai"), rows, at(11), Scoring(late=0))
    assert floor.by_unit[0]["score"] == 0.0  # never below zero


def test_the_report_as_csv_html_and_pdf(hub: HubService) -> None:
    made = report(hub, period_of("daily", DAY, "Asia/Shanghai"))
    csv_text = to_csv(made)
    assert "48小时内整改率 rectified within 48 h,50% (1/2)" in csv_text
    assert "INT-TWO,讯问时办案民警少于二人,2" in csv_text and "1,unit-a,97.0,2,0,1,0,1.0" in csv_text
    page = to_html(made, "演示中心")
    assert page.count("<svg") == 2 and "<rect" in page and "日巡查" in page and "50% (1/2)" in page
    pdf = to_pdf(made, "演示中心")
    assert pdf.startswith(b"%PDF") and len(pdf) > 3000
    year = report(hub, period_of("yearly", DAY, "Asia/Shanghai"))  # the exports of the new periods
    assert "年度对比" in to_html(year, "演示中心") and "2026-11,4,0,2,2,1" in to_csv(year)
    assert to_pdf(year, "演示中心").startswith(b"%PDF")
    assert "季排名" in to_html(report(hub, period_of("quarterly", DAY, "Asia/Shanghai")), "演示中心")


def test_the_schedule_writes_each_finished_period_once(hub: HubService, tmp_path: Path) -> None:
    folder = tmp_path / "reports"
    scheduler = ReportScheduler(hub, folder)
    assert scheduler.due_now() == []  # an empty store: the hub saw none of those periods
    hub.store.write(Batch(events=events("box-01", 1, 1)))  # it has been running since (a while ago)
    first = scheduler.due_now()
    names = sorted(p.name for p in first)
    assert len(names) == 9  # yesterday, last week, last month × html, csv, pdf
    assert all(n.startswith(("casewatch-daily-", "casewatch-weekly-", "casewatch-monthly-")) for n in names)
    assert scheduler.due_now() == []  # already written
    assert not list(folder.glob("*.part"))

"""Supervision reports (日巡查、周复盘、月调度): alerts of a period counted every way a review needs.

Pure: rows in (one per alert opened in the period, with when it was acknowledged and rectified,
its room, unit and officers), a report dict out. Counted: by rule, level (the highest reached),
room, unit and officer; per day and level (the trend); the share of rectification tickets (orange
and up) rectified within 48 h — over tickets whose 48 h are over or that were rectified, so a
ticket opened an hour before the report does not count as late; time to acknowledge (median and
90th percentile); and a ranking of units (fewest alerts per ticket rectified late first).
Rendering lives in ``hub.report_render``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from hub.rules.levels import LEVELS, TICKET_LEVEL, rank

PeriodKind = Literal["daily", "weekly", "monthly", "quarterly", "yearly"]
PERIODS: tuple[PeriodKind, ...] = ("daily", "weekly", "monthly")
"""Written on schedule; quarterly (季排名) and yearly (年度对比) reports are made on demand."""
RECTIFY_WITHIN_MS = 48 * 3_600_000
UNASSIGNED = "—"


@dataclass(frozen=True)
class Period:
    kind: PeriodKind
    start: date
    end: date
    """Exclusive."""
    tz: str

    def ms(self) -> tuple[int, int]:
        return _day_ms(self.start, self.tz), _day_ms(self.end, self.tz)

    def days(self) -> list[date]:
        return [self.start + timedelta(days=i) for i in range((self.end - self.start).days)]

    @property
    def label(self) -> str:
        if self.kind == "daily":
            return self.start.isoformat()
        if self.kind == "weekly":
            return f"{self.start.isoformat()} – {(self.end - timedelta(days=1)).isoformat()}"
        if self.kind == "quarterly":
            return f"{self.start.year}-Q{(self.start.month - 1) // 3 + 1}"
        if self.kind == "yearly":
            return str(self.start.year)
        return f"{self.start:%Y-%m}"

    def months(self) -> list[str]:
        """``YYYY-MM`` of every month the period touches."""
        out: list[str] = []
        for day in (self.start, *(d for d in self.days() if d.day == 1)):
            label = f"{day:%Y-%m}"
            if label not in out:
                out.append(label)
        return out


def _day_ms(day: date, tz: str) -> int:
    """Midnight starting ``day`` in the centre's zone, in ms UTC (where drill-downs cut)."""
    return int(datetime.combine(day, time(), ZoneInfo(tz)).timestamp() * 1000)


def _month_after(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def period_of(kind: PeriodKind, day: date, tz: str) -> Period:
    """The day, the ISO week (Monday first), the month, the quarter or the year that holds ``day``."""
    if kind == "daily":
        return Period(kind, day, day + timedelta(days=1), tz)
    if kind == "weekly":
        start = day - timedelta(days=day.weekday())
        return Period(kind, start, start + timedelta(days=7), tz)
    if kind == "quarterly":
        start = date(day.year, (day.month - 1) // 3 * 3 + 1, 1)
        return Period(kind, start, _month_after(start, 3), tz)
    if kind == "yearly":
        return Period(kind, date(day.year, 1, 1), date(day.year + 1, 1, 1), tz)
    start = day.replace(day=1)
    return Period(kind, start, _month_after(start, 1), tz)


def previous(kind: PeriodKind, today: date, tz: str) -> Period:
    """The last whole period before ``today`` (what a scheduled report covers)."""
    return period_of(kind, period_of(kind, today, tz).start - timedelta(days=1), tz)


@dataclass(frozen=True)
class AlertRow:
    id: str
    rule: str
    title: str
    level: str
    """Highest level reached."""
    room: str
    unit: str
    officers: tuple[str, ...]
    opened_ms: int
    acknowledged_ms: int | None = None
    rectified_ms: int | None = None
    state: str = "open"
    is_ticket: bool | None = None
    """The alert's own ``is_ticket`` (None: orange and up, as before manual findings)."""
    manual: bool = False
    """Raised by hand (远程提醒), not by a rule detecting it."""
    item: str = ""
    """A manual finding's risk item (the catalogue's id)."""

    @property
    def ticket(self) -> bool:
        if self.is_ticket is not None:
            return self.is_ticket
        return rank(self.level) >= rank(TICKET_LEVEL)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Scoring:
    """月考评: each unit starts at ``base`` points and loses ``deduct[level]`` per alert (by the
    highest level reached) and ``late`` per ticket not rectified within 48 h. Suggested defaults
    ([D]); a bureau sets its own in the hub config (``reports.evaluation``)."""

    base: float = 100.0
    deduct: tuple[tuple[str, float], ...] = (
        ("green", 0.0),
        ("blue", 0.5),
        ("yellow", 1.0),
        ("orange", 2.0),
        ("red", 4.0),
    )
    late: float = 3.0

    def score(self, levels: Counter[str], late: int) -> float:
        table = dict(self.deduct)
        lost = sum(table.get(level, 0.0) * n for level, n in levels.items()) + self.late * late
        return round(max(0.0, self.base - lost), 1)


@dataclass
class Report:
    period: Period
    generated_ms: int
    total: int = 0
    by_rule: list[dict[str, Any]] = field(default_factory=list)
    by_level: dict[str, int] = field(default_factory=dict)
    by_room: list[dict[str, Any]] = field(default_factory=list)
    by_unit: list[dict[str, Any]] = field(default_factory=list)
    by_officer: list[dict[str, Any]] = field(default_factory=list)
    trend: list[dict[str, Any]] = field(default_factory=list)
    by_month: list[dict[str, Any]] = field(default_factory=list)
    """Per month the period touches: alerts by level, manual, tickets, rectified within 48 h (the
    quarterly and yearly charts, and a year set against the one before)."""
    manual: int = 0
    """Of ``total``, findings raised by hand (远程提醒); the rest were detected by rules."""
    tickets: int = 0
    tickets_due: int = 0
    rectified_in_48h: int = 0
    ack_median_min: float | None = None
    ack_p90_min: float | None = None
    patrol_rounds: int = 0
    patrol_cameras: int = 0
    """Cameras known to the hub in the period."""
    patrol_covered: int = 0
    """Of those, how many the patrol wall showed at least ``patrol_views`` times."""
    patrol_views: int = 0
    coverage_persons: list[dict[str, Any]] = field(default_factory=list)
    """Each person in custody during the period: custody time on camera (hub/coverage.py)."""
    coverage_rooms: list[dict[str, Any]] = field(default_factory=list)
    """Each room: those persons' time there, and how much of it was on camera."""
    anchor: str | None = None
    """The event log's head signed with the hub's key when the report was made (hub/anchor.py):
    a copy of the report kept elsewhere lets ``hub verify --anchor`` check the log against it."""

    @property
    def rectified_rate(self) -> float | None:
        return None if not self.tickets_due else self.rectified_in_48h / self.tickets_due

    def to_json(self) -> dict[str, Any]:
        return {
            "period": {
                "kind": self.period.kind,
                "start": self.period.start.isoformat(),
                "end": self.period.end.isoformat(),
                "label": self.period.label,
                "start_ms": self.period.ms()[0],
                "end_ms": self.period.ms()[1],
            },
            "generated_ms": self.generated_ms,
            "total": self.total,
            "manual": self.manual,
            "automatic": self.total - self.manual,
            "by_level": self.by_level,
            "by_rule": self.by_rule,
            "by_room": self.by_room,
            "by_unit": self.by_unit,
            "by_officer": self.by_officer,
            "trend": self.trend,
            "by_month": self.by_month,
            "tickets": self.tickets,
            "tickets_due": self.tickets_due,
            "rectified_in_48h": self.rectified_in_48h,
            "rectified_rate": self.rectified_rate,
            "ack_median_min": self.ack_median_min,
            "ack_p90_min": self.ack_p90_min,
            "coverage": {"persons": self.coverage_persons, "rooms": self.coverage_rooms},
            "patrol": {
                "rounds": self.patrol_rounds,
                "cameras": self.patrol_cameras,
                "covered": self.patrol_covered,
                "views": self.patrol_views,
            },
            "anchor": self.anchor,
        }


def build(
    period: Period,
    rows: Iterable[AlertRow],
    now_ms: int,
    scoring: Scoring | None = None,
    units: Iterable[str] = (),
) -> Report:
    """``units``: every unit to rank, those without an alert too (the best of the month)."""
    start, end = period.ms()
    inside = [r for r in rows if start <= r.opened_ms < end]
    report = Report(period, now_ms, total=len(inside), manual=sum(1 for r in inside if r.manual))
    report.by_level = {level: sum(1 for r in inside if r.level == level) for level in LEVELS}
    titles = {(r.rule, r.item): r.title for r in inside}  # manual findings count per item
    report.by_rule = _ranked(
        Counter((r.rule, r.item) for r in inside),
        lambda k: {"rule": k[0], "title": titles[k], **({"item": k[1], "manual": True} if k[1] else {})},
    )
    report.by_room = _ranked(Counter(r.room or UNASSIGNED for r in inside), lambda k: {"room": k})
    report.by_officer = _ranked(Counter(o for r in inside for o in r.officers), lambda k: {"officer": k})
    tickets = [r for r in inside if r.ticket]
    due = [t for t in tickets if t.rectified_ms is not None or now_ms - t.opened_ms >= RECTIFY_WITHIN_MS]
    report.tickets, report.tickets_due = len(tickets), len(due)
    report.rectified_in_48h = sum(1 for t in due if _in_48h(t))
    waits = sorted(
        (r.acknowledged_ms - r.opened_ms) / 60_000 for r in inside if r.acknowledged_ms is not None
    )
    if waits:
        report.ack_median_min = round(_quantile(waits, 0.5), 1)
        report.ack_p90_min = round(_quantile(waits, 0.9), 1)
    report.by_unit = _units(inside, now_ms, scoring or Scoring(), units)
    zone = ZoneInfo(period.tz)
    per_day: dict[str, Counter[str]] = {d.isoformat(): Counter() for d in period.days()}
    for r in inside:
        day = datetime.fromtimestamp(r.opened_ms / 1000, zone).date().isoformat()
        per_day.setdefault(day, Counter())[r.level] += 1
    report.trend = [
        {
            "day": day,
            **{lv: counts.get(lv, 0) for lv in LEVELS},
            **_bounds(date.fromisoformat(day), 1, period.tz),
        }
        for day, counts in per_day.items()
    ]
    report.by_month = _months(period, inside, now_ms)
    return report


def _months(period: Period, rows: list[AlertRow], now_ms: int) -> list[dict[str, Any]]:
    zone = ZoneInfo(period.tz)
    months: dict[str, list[AlertRow]] = {m: [] for m in period.months()}
    for r in rows:
        months.setdefault(datetime.fromtimestamp(r.opened_ms / 1000, zone).strftime("%Y-%m"), []).append(r)
    out: list[dict[str, Any]] = []
    for month, inside in months.items():
        due = [
            r
            for r in inside
            if r.ticket and (r.rectified_ms is not None or now_ms - r.opened_ms >= RECTIFY_WITHIN_MS)
        ]
        first = date.fromisoformat(f"{month}-01")
        levels: dict[str, Any] = {lv: sum(1 for r in inside if r.level == lv) for lv in LEVELS}
        out.append(
            {
                "month": month, **_bounds(first, 0, period.tz), "total": len(inside),
                "manual": sum(1 for r in inside if r.manual),
                **levels,
                "tickets": sum(1 for r in inside if r.ticket), "tickets_due": len(due),
                "rectified_in_48h": sum(1 for r in due if _in_48h(r)),
            }
        )  # fmt: skip
    return out


def _bounds(first: date, days: int, tz: str) -> dict[str, int]:
    """``start_ms``/``end_ms`` of a day (``days`` 1) or of the month starting ``first`` (0)."""
    end = first + timedelta(days=days) if days else _month_after(first, 1)
    return {"start_ms": _day_ms(first, tz), "end_ms": _day_ms(end, tz)}


def _late(row: AlertRow, now_ms: int) -> bool:
    """Not rectified within 48 h — known only once the 48 h are over or it was rectified."""
    due = row.rectified_ms is not None or now_ms - row.opened_ms >= RECTIFY_WITHIN_MS
    return due and not _in_48h(row)


def _units(rows: list[AlertRow], now_ms: int, scoring: Scoring, known: Iterable[str]) -> list[dict[str, Any]]:
    """Units ranked for 月考评/季排名: highest score first, then fewest tickets rectified late,
    fewest alerts, the name; a known unit without alerts ranks with the full score. Alerts of no
    unit (``—``) are listed last, unranked: nobody to evaluate. ``rectified_rate``: tickets
    rectified within 48 h over those due."""
    units: dict[str, dict[str, Any]] = {}
    levels: dict[str, Counter[str]] = {}

    def row(name: str) -> dict[str, Any]:
        levels.setdefault(name, Counter())
        return units.setdefault(
            name, {"unit": name, "count": 0, "tickets": 0, "late": 0, "due": 0, "manual": 0}
        )

    for name in known:
        row(name)
    for r in rows:
        u = row(r.unit or UNASSIGNED)
        levels[u["unit"]][r.level] += 1
        u["count"] += 1
        u["manual"] += 1 if r.manual else 0
        if r.ticket:
            u["tickets"] += 1
            u["late"] += 1 if _late(r, now_ms) else 0
            u["due"] += 1 if r.rectified_ms is not None or now_ms - r.opened_ms >= RECTIFY_WITHIN_MS else 0
    for name, u in units.items():
        u["score"] = scoring.score(levels[name], u["late"])
        u["rectified_rate"] = None if not u["due"] else round((u["due"] - u["late"]) / u["due"], 3)
    ranked = sorted(
        (u for u in units.values() if u["unit"] != UNASSIGNED),
        key=lambda u: (-u["score"], u["late"], u["count"], u["unit"]),
    )
    for place, u in enumerate(ranked, 1):
        u["rank"] = place
    return [*ranked, {**units[UNASSIGNED], "rank": None}] if UNASSIGNED in units else ranked


def _in_48h(row: AlertRow) -> bool:
    return row.rectified_ms is not None and row.rectified_ms - row.opened_ms <= RECTIFY_WITHIN_MS


def _ranked(counts: Counter[Any], describe: Any) -> list[dict[str, Any]]:
    return [{**describe(k), "count": n} for k, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]


def _quantile(values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (values sorted)."""
    if len(values) == 1:
        return values[0]
    pos = q * (len(values) - 1)
    low = int(pos)
    high = min(low + 1, len(values) - 1)
    return values[low] + (values[high] - values[low]) * (pos - low)

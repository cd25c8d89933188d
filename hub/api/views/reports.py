"""Supervision reports as JSON, and the files the schedule wrote."""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import Field

from hub.domain import (
    ReadModel,
)
from hub.reports import PeriodKind
from hub.rules.levels import Level


class ReportFile(ReadModel):
    """A report file the schedule wrote."""

    name: str
    bytes: int
    modified_ms: int


class ReportPeriod(ReadModel):
    """The day, ISO week or month a report covers (``end`` exclusive)."""

    kind: PeriodKind
    start: date
    end: date
    label: str
    start_ms: int = Field(description="Its first moment in the centre's zone, ms UTC.")
    end_ms: int = Field(description="The moment after it (exclusive), ms UTC.")


class RuleCount(ReadModel):
    """Alerts of one rule."""

    rule: str
    title: str
    count: int
    item: str | None = Field(None, description="Manual findings (rule MANUAL) count per risk item.")
    manual: bool | None = Field(None, description="True for manual findings' rows.")


class RoomCount(ReadModel):
    """Alerts in one room (by name; ``—`` when none)."""

    room: str
    count: int


class OfficerCount(ReadModel):
    """Alerts attributed to one officer (by name)."""

    officer: str
    count: int


class UnitRank(ReadModel):
    """A unit's alerts, tickets and tickets rectified late, its score (月考评) and its place."""

    unit: str
    count: int
    tickets: int
    late: int
    rank: int | None = Field(description="Its place (1 best); null for alerts of no unit (—).")
    due: int = Field(description="Tickets whose 48 h are over or that were rectified.")
    manual: int = Field(description="Of count, findings raised by hand (远程提醒).")
    score: float = Field(description="reports.evaluation: base less deductions per alert and late ticket.")
    rectified_rate: float | None = Field(description="Tickets rectified within 48 h over those due.")


class ReportMonth(ReadModel):
    """Alerts opened in one month, by highest level reached, with tickets and rectification."""

    month: str
    start_ms: int
    end_ms: int
    total: int
    manual: int
    green: int
    blue: int
    yellow: int
    orange: int
    red: int
    tickets: int
    tickets_due: int
    rectified_in_48h: int


class ReportDay(ReadModel):
    """Alerts opened on one day, by highest level reached."""

    day: date
    start_ms: int
    end_ms: int
    green: int
    blue: int
    yellow: int
    orange: int
    red: int


class ReportView(ReadModel):
    """A supervision report (日巡查、周复盘、月调度) as JSON."""

    period: ReportPeriod
    generated_ms: int
    total: int
    manual: int = Field(description="Of total, findings raised by hand (远程提醒).")
    automatic: int = Field(description="Of total, alerts the rules detected.")
    by_level: dict[Level, int]
    by_rule: list[RuleCount]
    by_room: list[RoomCount]
    by_unit: list[UnitRank]
    by_officer: list[OfficerCount]
    trend: list[ReportDay]
    by_month: list[ReportMonth]
    tickets: int
    tickets_due: int
    rectified_in_48h: int
    rectified_rate: float | None
    ack_median_min: float | None
    ack_p90_min: float | None
    coverage: dict[str, list[dict[str, Any]]] | None = Field(
        None, description="Recording coverage: `persons` (percent, custody_min, off_camera_s, pieces) and "
        "`rooms` (minutes, percent) — once the centre records with casewatch (docs/recording.md).",
    )  # fmt: skip
    patrol: dict[str, int] = Field(
        default_factory=dict,
        description="Patrol wall: rounds, cameras known, cameras shown at least `views` times (covered).",
    )
    anchor: str | None = Field(
        None,
        description="The event log's head signed by the hub when the report was made (docs/hub.md "
        '"Tamper evidence"); reports served by the API on request carry none.',
    )

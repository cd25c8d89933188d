"""Report rows from the hub's tables, and the scheduled report files (the thin shell of reports).

Each alert is attributed to a unit and officers the way notifications are: the officers of its
case (from the alert or the person's case), the assignee when it is an officer; the unit of the
case, else of those officers, else the assignee when it names a unit.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Mapping
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from hub.alerts import Alert
from hub.findings import alert_title, is_manual
from hub.report_render import to_csv, to_html, to_pdf
from hub.reports import PERIODS, AlertRow, Period, Report, Scoring, build, previous
from hub.rules.levels import rank

if TYPE_CHECKING:
    from hub.queries import Queries
    from hub.rules.spec import Rule
    from hub.service import HubService

log = logging.getLogger(__name__)
CHECK_EVERY_S = 60.0


def attribute(
    alert: Alert,
    officers: Mapping[str, Mapping[str, Any]],
    cases: Mapping[str, Mapping[str, Any]],
    persons: Mapping[str, Mapping[str, Any]],
) -> tuple[str, list[str]]:
    """The alert's unit ("" when unknown) and officer ids, as reports and the unit filter see them.
    An alert of several cases (a room condition) counts once, against its first case's unit."""
    ctx = alert.context
    case_id = str(ctx.get("case") or (persons.get(str(ctx.get("person") or "")) or {}).get("case") or "")
    case = cases.get(case_id) or {}
    named = [str(o) for o in ctx.get("officers") or [] if o in officers]  # a manual finding's
    handling = named + [str(o) for o in case.get("officers") or [] if o in officers and o not in named]
    if alert.assignee is not None and alert.assignee in officers and alert.assignee not in handling:
        handling.append(alert.assignee)
    unit = (
        ctx.get("unit")
        or case.get("unit")
        or next((officers[o].get("unit") for o in handling if officers[o].get("unit")), None)
    )
    if unit is None and alert.assignee and alert.assignee not in officers:
        unit = alert.assignee
    return str(unit or ""), handling


def rows_for(service: HubService, period: Period) -> list[AlertRow]:
    rooms = {r.id: r.name for r in service.cfg.rooms}
    return alert_rows(service.queries, period, rooms, {r.id: r for r in service.rules.rules})


def alert_rows(
    queries: Queries, period: Period, rooms: Mapping[str, str], rules: Mapping[str, Rule]
) -> list[AlertRow]:
    """The period's alerts of one centre's tables as report rows (also the bureau's, per centre)."""
    start, end = period.ms()
    officers = queries.projection_map("officer")
    cases = queries.projection_map("case")
    persons = queries.projection_map("person")
    out: list[AlertRow] = []
    for alert, acknowledged, rectified in queries.report_alerts(start, end):
        ctx = alert.context
        unit, handling = attribute(alert, officers, cases, persons)
        top = max(alert.reached, key=rank) if alert.reached else alert.level
        room = str(ctx.get("room") or "")
        out.append(
            AlertRow(
                alert.id,
                alert.rule,
                alert_title(alert, rules.get(alert.rule)),
                top,
                rooms.get(room, room),
                str(unit or ""),
                tuple(str(officers[o].get("name") or o) for o in handling),
                alert.opened_ms,
                acknowledged,
                rectified,
                alert.state,
                alert.is_ticket,
                bool(ctx.get("finding")) or is_manual(rules.get(alert.rule)),  # raised by hand
                str(ctx.get("item") or ""),
            )
        )
    return out


def report(service: HubService, period: Period) -> Report:
    rules = service.cfg.reports.evaluation
    scoring = Scoring(rules.base, tuple(rules.deduct.items()), rules.late)
    officers = service.queries.projections("officer")
    units = {str(o["unit"]) for o in officers if o.get("unit") and o.get("active", True)}
    made = build(period, rows_for(service, period), service.clock.now_ms(), scoring, sorted(units))
    add_patrol(made, service, period)
    add_coverage(made, service, period)
    return made


def add_coverage(made: Report, service: HubService, period: Period) -> None:
    """Recording coverage of the part within the period of every custody that overlaps it (to its
    release, or to now), per person and per room — once the centre records with casewatch
    (docs/recording.md). Each person's latest custody (the person read model) is what is seen."""
    from hub.coverage_watch import person_coverage
    from hub.trail import binding_records

    queries = service.queries
    if not queries.events(kind="recording.state", limit=1):
        return
    start, end = period.ms()
    now = service.clock.now_ms()
    bindings = binding_records(queries)  # once for every person of the period
    rooms: dict[str, list[int]] = {}
    for person in sorted(queries.projections("person"), key=lambda p: str(p["id"])):
        arrived, released = int(person.get("arrived") or 0), person.get("released")
        if arrived >= end or (released is not None and released < start):
            continue
        found = person_coverage(queries, person, now, (start, end), bindings)  # this period's part
        off = [u for u in found.uncovered if u.room is not None]
        made.coverage_persons.append({
            "person": person["id"], "percent": found.percent,
            "custody_min": round(found.total_ms / 60_000, 1),
            "off_camera_s": round(sum(u.end - u.start for u in off) / 1000), "pieces": len(off),
        })  # fmt: skip
        for room, tally in found.rooms.items():
            both = rooms.setdefault(room, [0, 0])
            both[0] += tally["ms"]
            both[1] += tally["covered_ms"]
    names = {r.id: r.name for r in service.cfg.rooms}
    made.coverage_rooms = [
        {"room": names.get(room, room), "minutes": round(ms / 60_000, 1),
         "percent": round(100 * covered / ms, 2) if ms else 100.0}
        for room, (ms, covered) in sorted(rooms.items())
    ]  # fmt: skip


def add_patrol(made: Report, service: HubService, period: Period) -> None:
    """Patrol coverage: how many of the cameras the wall showed at least N times a day (N ×
    the period's days), from the ``patrol.round`` records of the period."""
    start, end = period.ms()
    views: Counter[str] = Counter()
    rounds = service.queries.events(
        kind="patrol.round", agent="hub", since_ms=start, until_ms=end - 1, limit=100_000
    )
    for entry in rounds:
        views.update(set(entry["event"]["data"].get("cameras") or []))
    cameras = {str(c["id"]) for c in service.queries.projections("camera")}  # only cameras it knows
    made.patrol_rounds = len(rounds)
    made.patrol_views = service.cfg.reports.patrol_views_per_day * len(period.days())
    made.patrol_cameras = len(cameras)
    made.patrol_covered = sum(1 for c in cameras if views[c] >= made.patrol_views)


def file_stem(period: Period) -> str:
    return f"casewatch-{period.kind}-{period.start.isoformat()}"


def render(service: HubService, period: Period, fmt: str) -> bytes:
    made = report(service, period)
    made.anchor = service.anchor_now()
    name = service.cfg.name or service.cfg.center
    if fmt == "csv":
        return to_csv(made).encode("utf-8-sig")  # a BOM, so spreadsheet programs read the Chinese
    if fmt == "html":
        return to_html(made, name).encode()
    return to_pdf(made, name)


class ReportScheduler:
    """Writes each period's report files once the period is over (checked every minute)."""

    def __init__(self, service: HubService, folder: Path) -> None:
        self.service = service
        self.folder = folder
        self.written: list[Path] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="hub-reports", daemon=True)

    def start(self) -> ReportScheduler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.due_now()
            except Exception:
                log.exception("scheduled reports failed this round; trying again in a minute")
            self._stop.wait(CHECK_EVERY_S)

    def due_now(self) -> list[Path]:
        tz = self.service.cfg.timezone
        today = datetime.fromtimestamp(self.service.clock.now_ms() / 1000, ZoneInfo(tz)).date()
        since = self.service.queries.first_received_ms()
        made = []
        for kind in PERIODS:
            period = previous(kind, today, tz)
            if since is None or period.ms()[1] <= since:
                continue  # the hub was not running then: no empty report for a time it never saw
            made += self.write(period)
        return made

    def write(self, period: Period) -> list[Path]:
        made = []
        self.folder.mkdir(parents=True, exist_ok=True)
        for fmt in self.service.cfg.reports.formats:
            path = self.folder / f"{file_stem(period)}.{fmt}"
            if path.exists():
                continue
            part = path.with_suffix(path.suffix + ".part")
            part.write_bytes(render(self.service, period, fmt))
            part.replace(path)  # whole or not at all
            made.append(path)
            log.info("report written: %s", path)
        self.written += made
        return made


def list_files(folder: Path) -> list[dict[str, object]]:
    if not folder.exists():
        return []
    return [
        {"name": p.name, "bytes": p.stat().st_size, "modified_ms": int(p.stat().st_mtime * 1000)}
        for p in sorted(folder.iterdir(), reverse=True)
        if p.is_file() and not p.name.endswith(".part")
    ]


def parse_day(text: str | None, service: HubService) -> date:
    if text:
        return date.fromisoformat(text)
    return datetime.fromtimestamp(service.clock.now_ms() / 1000, ZoneInfo(service.cfg.timezone)).date()

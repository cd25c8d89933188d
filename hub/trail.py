"""A person's custody read from the log: their records, where their bands were, who was with them.

The person's timeline (API), the recording coverage (hub/coverage.py) and the person's package
(hub/packages.py) all start from the same reading of the log, so they cannot disagree about
where someone was: the person's records in this custody, the holdings of every band bound and
released, the person's own sightings and the staff's, named by the officer who wore the band.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from hub.alerts import Alert
from hub.queries import AlertFilter, Queries
from hub.timeline import Holding, Seen, Stay, holdings, stays, timeline, worn

FOREVER = 2**62


@dataclass(frozen=True)
class Trail:
    person: dict[str, Any]
    since: int
    until: int | None
    """The release (None: still in custody)."""
    records: list[dict[str, Any]]
    own_bands: list[str]
    own: list[Seen]
    staff: list[Seen]
    staff_held: list[Holding]

    def stays(self, now_ms: int | None = None) -> list[Stay]:
        """The person's rooms with entry and exit; a stay still open ends at release or ``now_ms``."""
        return stays(self.own, self.until if self.until is not None else now_ms)


def binding_records(queries: Queries) -> list[dict[str, Any]]:
    """Every bind, unbind and release record, in log order (few: a handful per person)."""
    found: list[tuple[int, dict[str, Any]]] = []
    for kind in ("band.bind", "band.unbind", "person.release"):
        found += [(e["pos"], e["event"]) for e in queries.events(kind=kind, agent="hub", limit=1_000_000)]
    return [doc for _pos, doc in sorted(found, key=lambda item: item[0])]


def read_trail(
    queries: Queries, person: dict[str, Any], bindings: list[dict[str, Any]] | None = None
) -> Trail:
    """``person``: the person projection (``id``, ``arrived``, ``released``); ``bindings``: the
    ``binding_records`` when the caller reads many trails at once (a report)."""
    pid = str(person["id"])
    since, until = int(person.get("arrived") or 0), person.get("released")
    end = until if until is not None else FOREVER

    def in_stay(ts: Any) -> bool:  # the same id may have been in custody before: this stay only
        return isinstance(ts, int) and since <= ts <= end

    records = [r for r in queries.about_person(pid) if in_stay(r.get("ts"))]
    bound = holdings(binding_records(queries) if bindings is None else bindings)
    held = [h for h in bound if (h.end is None or h.end > since) and h.start <= end]
    own_held = [h for h in held if h.person == pid]
    own_bands = sorted({h.band for h in own_held})
    own = worn([Seen(*p) for p in queries.positions(own_bands, since, until)], own_held)
    staff_held = [h for h in held if h.role in ("officer", "auxiliary") and h.officer]
    staff_bands = sorted({h.band for h in staff_held})
    staff_seen = [Seen(*p) for p in queries.positions(staff_bands, since, until)]
    staff = worn(staff_seen, staff_held, by_officer=True)
    return Trail(person, since, until, records, own_bands, own, staff, staff_held)


def trail_steps(
    queries: Queries, trail: Trail, rooms: Mapping[str, str], alert_view: Callable[[Alert], dict[str, Any]]
) -> list[dict[str, Any]]:
    """The person's timeline (hub/timeline.py): records, rooms with the staff there, alerts."""
    officers = {o["id"]: o for o in queries.projections("officer")}
    names = {
        str(h.officer): str((officers.get(str(h.officer)) or {}).get("name") or h.officer)
        for h in trail.staff_held
    }
    end = trail.until if trail.until is not None else FOREVER
    found = AlertFilter(person=str(trail.person["id"]), since_ms=trail.since, until_ms=end, limit=500)
    alerts = [alert_view(a) for a in queries.alerts(found)]
    return timeline(trail.person, trail.records, trail.own, trail.staff, alerts, rooms, names)

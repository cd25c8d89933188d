"""A person's electronic trajectory (全程电子轨迹), assembled from the log without I/O.

Input: the person's registration, the hub records about them, their band bindings, where their
bands were seen (``band.position``), where staff bands were seen over the same hours, and the
alerts about them. Output: one ordered list of steps — arrival, safety check, information
collection, belongings, meals and rest, approvals, each room with its entry and exit time and
the staff bands present there during the stay, every alert raised, and the release.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Seen:
    """A band seen in a room (``room`` None: lost) at ``ts``."""

    band: str
    ts: int
    room: str | None


@dataclass
class Stay:
    room: str
    entered: int
    left: int | None = None
    staff: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class Holding:
    """Who wore a band, from when to when (None: still bound)."""

    band: str
    start: int
    end: int | None
    role: str
    person: str | None
    officer: str | None

    def covers(self, ts: int) -> bool:
        return self.start <= ts and (self.end is None or ts < self.end)


def holdings(records: Iterable[Mapping[str, Any]]) -> list[Holding]:
    """Band wearing intervals from bind, unbind and release records (in log order).

    A band is worn from its ``band.bind`` until its ``band.unbind``, its next bind, or the release
    of the person wearing it (a release unbinds the person's bands).
    """
    open_: dict[str, dict[str, Any]] = {}
    out: list[Holding] = []

    def close(band: str, ts: int) -> None:
        held = open_.pop(band, None)
        if held is not None:
            out.append(Holding(band, held["start"], ts, held["role"], held["person"], held["officer"]))

    for rec in records:
        kind, subject, data = rec.get("kind"), rec.get("subject") or {}, rec.get("data") or {}
        ts = int(rec.get("ts") or 0)
        if kind == "band.bind":
            band = str(subject.get("band"))
            close(band, ts)
            open_[band] = {"start": ts, "role": data.get("role"), "person": subject.get("person"),
                           "officer": data.get("officer")}  # fmt: skip
        elif kind == "band.unbind":
            close(str(subject.get("band")), ts)
        elif kind == "person.release":
            for band in [b for b, h in open_.items() if h["person"] == subject.get("person")]:
                close(band, ts)
    out += [Holding(b, h["start"], None, h["role"], h["person"], h["officer"]) for b, h in open_.items()]
    return out


def worn(seen: Iterable[Seen], held: Iterable[Holding], by_officer: bool = False) -> list[Seen]:
    """The sightings made while the given holdings were on; ``by_officer``: named by the wearer.

    A staff band passes from officer to officer: naming each sighting by who wore it then keeps
    one officer's presence from being credited to the next.
    """
    by_band: dict[str, list[Holding]] = {}
    for h in held:
        by_band.setdefault(h.band, []).append(h)
    out = []
    used: set[Holding] = set()
    for s in seen:
        holder = next((h for h in by_band.get(s.band, ()) if h.covers(s.ts)), None)
        if holder is not None:
            used.add(holder)
            out.append(Seen(str(holder.officer), s.ts, s.room) if by_officer else s)
    # taking the band off ends the wearer's stay where it was last seen
    out += [Seen(str(h.officer) if by_officer else h.band, h.end, None) for h in used if h.end is not None]
    return sorted(out, key=lambda s: s.ts)


def stays(seen: Iterable[Seen], until: int | None = None) -> list[Stay]:
    """Consecutive rooms of one band's sightings (a lost signal ends a stay without starting one)."""
    out: list[Stay] = []
    for s in sorted(seen, key=lambda s: s.ts):
        current = out[-1] if out and out[-1].left is None else None
        if current is not None and current.room == s.room:
            continue
        if current is not None:
            current.left = s.ts
        if s.room is not None:
            out.append(Stay(s.room, s.ts))
    if until is not None and out and out[-1].left is None:
        out[-1].left = until
    return out


def present(stay: Stay, staff: Mapping[str, list[Stay]]) -> set[str]:
    """Staff bands whose own stays in the same room overlap this one."""
    end = stay.left if stay.left is not None else 2**62
    found = set()
    for band, theirs in staff.items():
        for other in theirs:
            other_end = other.left if other.left is not None else 2**62
            if other.room == stay.room and other.entered < end and stay.entered < other_end:
                found.add(band)
                break
    return found


def timeline(
    person: Mapping[str, Any],
    records: Iterable[Mapping[str, Any]],
    own: Iterable[Seen],
    staff_seen: Iterable[Seen],
    alerts: Iterable[Mapping[str, Any]],
    rooms: Mapping[str, str],
    staff_names: Mapping[str, str],
) -> list[dict[str, Any]]:
    """The steps, oldest first. ``records``: logged hub records (envelopes) about the person."""
    steps: list[dict[str, Any]] = [
        {"ts": person.get("arrived"), "type": "arrival", "procedure": person.get("procedure")}
    ]
    steps += [step for step in map(_record_step, records) if step is not None]
    steps += _room_steps(own, staff_seen, person.get("released"), rooms, staff_names)
    steps += [
        {"ts": alert.get("opened_ms"), "type": "alert", "alert": alert.get("id"), "rule": alert.get("rule"),
         "level": alert.get("level"), "title": alert.get("title"), "state": alert.get("state")}
        for alert in alerts
    ]  # fmt: skip
    return sorted(steps, key=lambda s: (s.get("ts") or 0, _ORDER.get(str(s["type"]), 5)))


def _record_step(rec: Mapping[str, Any]) -> dict[str, Any] | None:
    """The step a hub record about the person makes (None: not one the timeline shows)."""
    kind, data = rec.get("kind"), rec.get("data") or {}
    base = {"ts": rec.get("ts"), "by": rec.get("source")}
    if kind == "record":
        note = data.get("note", "")
        if data.get("items") or data.get("locker"):  # belongings: what, in which locker
            held = "、".join(data.get("items") or [])
            note = " · ".join(x for x in (f"{data.get('locker') or ''} {held}".strip(), note) if x)
        return {**base, "type": data.get("type"), "note": note}
    if kind == "approval":
        return {**base, "type": "approval", "approval": data.get("type"), "hours": data.get("hours"),
                "approved_by": data.get("approved_by")}  # fmt: skip
    if kind in ("band.bind", "band.unbind"):
        return {**base, "type": kind.replace(".", "_"), "band": (rec.get("subject") or {}).get("band")}
    if kind == "person.release":
        return {**base, "type": "release", "reason": data.get("reason", ""),
                "family_pickup": bool(data.get("family_pickup"))}  # fmt: skip
    return None


def _room_steps(
    own: Iterable[Seen],
    staff_seen: Iterable[Seen],
    released: int | None,
    rooms: Mapping[str, str],
    staff_names: Mapping[str, str],
) -> list[dict[str, Any]]:
    """One step per stay in a room, naming the staff whose bands were there at the same time."""
    by_band: dict[str, list[Seen]] = {}
    for s in staff_seen:
        by_band.setdefault(s.band, []).append(s)
    staff = {band: stays(seen, released) for band, seen in by_band.items()}
    return [
        {"ts": stay.entered, "type": "room", "room": stay.room, "room_name": rooms.get(stay.room, stay.room),
         "left": stay.left, "staff": sorted(staff_names.get(b, b) for b in present(stay, staff))}
        for stay in stays(own, released)
    ]  # fmt: skip


_ORDER = {"arrival": 0, "band_bind": 1, "safety_check": 2, "room": 3, "alert": 4, "release": 9}

"""Was a person's custody on camera? Their rooms × intervals against each room's recordings.

Pure: the person's stays (hub/trail.py), the cameras of each room, and the cameras' recording
events (``recording.state``: on from ``since`` / off; ``recording.gap``: a hole with its reason)
in; the uncovered intervals with their reason and the share of custody time on camera out. A
room's time is covered while at least one of its cameras was recording. An uncovered piece is:

- ``room_without_camera`` — the room has no camera at all;
- ``recording_gap`` — a camera of the room was recording and its recording has a hole then
  (``cause``: ``stream_lost``, ``recorder_exited``, ``disk_full``, ``agent_down``, ``unknown``);
- ``not_recorded`` — the room's cameras were not on record (recording off, never started);
- ``position_unknown`` — custody time in no known room (the band was lost): counted against the
  share on camera, never an alert (the band rules own a lost band).

Pieces shorter than ``MIN_MS`` are the joins between segments, not gaps.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from hub.timeline import Stay

MIN_MS = 3_000
Reason = Literal["room_without_camera", "recording_gap", "not_recorded", "position_unknown"]
Span = tuple[int, int]


@dataclass(frozen=True)
class Uncovered:
    start: int
    end: int
    room: str | None
    reason: Reason
    cameras: tuple[str, ...] = ()
    cause: str | None = None
    detail: str | None = None

    def as_dict(self) -> dict[str, Any]:
        found = asdict(self)
        found["cameras"] = list(self.cameras)
        found["ms"] = self.end - self.start
        return found


@dataclass(frozen=True)
class Hole:
    start: int
    end: int
    cause: str
    detail: str | None


@dataclass
class CameraRecord:
    """When one camera was on record: ``spans`` with the holes already taken out."""

    spans: list[Span] = field(default_factory=list)
    holes: list[Hole] = field(default_factory=list)


@dataclass(frozen=True)
class Coverage:
    since: int
    until: int
    covered_ms: int
    room_ms: int
    uncovered: list[Uncovered]
    rooms: dict[str, dict[str, int]]

    @property
    def total_ms(self) -> int:
        return max(0, self.until - self.since)

    @property
    def percent(self) -> float:
        """Custody time on camera, of all custody time (100 for an empty custody)."""
        return 100.0 if self.total_ms == 0 else round(100 * self.covered_ms / self.total_ms, 2)

    def as_dict(self) -> dict[str, Any]:
        return {
            "since": self.since, "until": self.until, "total_ms": self.total_ms, "room_ms": self.room_ms,
            "covered_ms": self.covered_ms, "percent": self.percent, "rooms": self.rooms,
            "uncovered": [u.as_dict() for u in self.uncovered],
        }  # fmt: skip


def camera_records(events: Iterable[Mapping[str, Any]], until: int) -> dict[str, CameraRecord]:
    """Each camera's recorded spans from its ``recording.state`` and ``recording.gap`` events."""
    states: dict[str, list[tuple[int, str]]] = {}
    out: dict[str, CameraRecord] = {}
    for doc in events:
        camera = str((doc.get("subject") or {}).get("camera") or "")
        data = doc.get("data") or {}
        if not camera:
            continue
        record = out.setdefault(camera, CameraRecord())
        if doc.get("kind") == "recording.state":
            states.setdefault(camera, []).append((int(data.get("since") or 0), str(data.get("state"))))
        elif doc.get("kind") == "recording.gap":
            cause = str(data.get("reason") or "unknown")
            record.holes.append(Hole(int(data["start"]), int(data["end"]), cause, data.get("detail")))
    for camera, record in out.items():
        spans: list[Span] = []
        opened: int | None = None
        for since, state in sorted(states.get(camera, [])):
            if state == "recording" and opened is None:
                opened = since
            elif state != "recording" and opened is not None:
                spans.append((opened, since))
                opened = None
        if opened is not None:
            spans.append((opened, until))
        record.spans = subtract(union(spans), [(h.start, h.end) for h in record.holes])
    return out


def union(spans: Iterable[Span]) -> list[Span]:
    out: list[Span] = []
    for start, end in sorted(s for s in spans if s[1] > s[0]):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def subtract(spans: Sequence[Span], holes: Iterable[Span]) -> list[Span]:
    out = list(spans)
    for h_start, h_end in holes:
        next_out: list[Span] = []
        for start, end in out:
            if h_end <= start or h_start >= end:
                next_out.append((start, end))
                continue
            if start < h_start:
                next_out.append((start, h_start))
            if h_end < end:
                next_out.append((h_end, end))
        out = next_out
    return out


def clip(spans: Iterable[Span], start: int, end: int) -> list[Span]:
    return [(max(s, start), min(e, end)) for s, e in spans if e > start and s < end]


def coverage(
    stays: Sequence[Stay],
    since: int,
    until: int,
    room_cameras: Mapping[str, Sequence[str]],
    records: Mapping[str, CameraRecord],
    min_ms: int = MIN_MS,
) -> Coverage:
    """Coverage of custody ``since``–``until`` (a stay still open ends at ``until``)."""
    uncovered: list[Uncovered] = []
    rooms: dict[str, dict[str, int]] = {}
    covered = room_ms = 0
    placed: list[Span] = []
    for stay in stays:
        start, end = max(stay.entered, since), min(stay.left if stay.left is not None else until, until)
        if end <= start:
            continue
        placed.append((start, end))
        cameras = tuple(room_cameras.get(stay.room, ()))
        on = union(s for cam in cameras for s in clip((records.get(cam) or CameraRecord()).spans, start, end))
        ms = sum(e - s for s, e in on)
        covered, room_ms = covered + ms, room_ms + (end - start)
        tally = rooms.setdefault(stay.room, {"ms": 0, "covered_ms": 0})
        tally["ms"] += end - start
        tally["covered_ms"] += ms
        for hole_start, hole_end in subtract([(start, end)], on):
            if hole_end - hole_start >= min_ms:
                uncovered.append(_why(stay.room, hole_start, hole_end, cameras, records))
    for hole_start, hole_end in subtract([(since, until)], union(placed)):
        if hole_end - hole_start >= min_ms:
            uncovered.append(Uncovered(hole_start, hole_end, None, "position_unknown"))
    uncovered.sort(key=lambda u: u.start)
    return Coverage(since, until, covered, room_ms, uncovered, rooms)


def _why(
    room: str, start: int, end: int, cameras: tuple[str, ...], records: Mapping[str, CameraRecord]
) -> Uncovered:
    if not cameras:
        return Uncovered(start, end, room, "room_without_camera")
    best: tuple[int, Hole] | None = None
    for camera in cameras:
        for hole in (records.get(camera) or CameraRecord()).holes:
            overlap = min(end, hole.end) - max(start, hole.start)
            if overlap > 0 and (best is None or overlap > best[0]):
                best = (overlap, hole)
    if best is None:
        return Uncovered(start, end, room, "not_recorded", cameras)
    hole = best[1]
    return Uncovered(start, end, room, "recording_gap", cameras, hole.cause, hole.detail)

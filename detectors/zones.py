"""Zones of a camera image and the inertia that keeps their counts from flickering.

A person is in a zone when the bottom centre of their box (where they stand or sit) is inside
the zone's polygon *or on its edge*, in coordinates relative to the image (0..1), so zones survive
a change of stream resolution. Closed on the edges because the detector clips boxes to the image:
a person cut by the bottom of the frame has y = 1.0 exactly, on the edge of a whole-frame zone.
``ZoneShape.contains`` is the one membership test: the agent, the demo and the tools all use it.

Inertia (``ZoneCounter``, properties in docs/vision.md): a zone's count moves to the median of the
readings of the last ``inertia_ms`` once the readings have been on that side of the confirmed
count for ``inertia_ms`` — counted from the change point, the first sample of the new state (the
start of the stretch that most favours "moved"). One contradicting sample neither resets nor
re-dates a transition, a lone phantom reading never confirms, and a busy scene whose exact count
never holds still follows the crowd.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

Point = tuple[float, float]


EDGE_TOLERANCE = 1e-9


def on_segment(x: float, y: float, a: Point, b: Point) -> bool:
    """``(x, y)`` lies on the segment ``a``–``b`` (within floating-point noise)."""
    (ax, ay), (bx, by) = a, b
    cross = (bx - ax) * (y - ay) - (by - ay) * (x - ax)
    if abs(cross) > EDGE_TOLERANCE:
        return False
    return min(ax, bx) - EDGE_TOLERANCE <= x <= max(ax, bx) + EDGE_TOLERANCE and (
        min(ay, by) - EDGE_TOLERANCE <= y <= max(ay, by) + EDGE_TOLERANCE
    )


@dataclass(frozen=True)
class ZoneShape:
    id: str
    role: str
    polygon: tuple[Point, ...]

    def contains(self, x: float, y: float) -> bool:
        """Inside or on an edge (closed polygon): edges first, then even-odd ray casting."""
        points = self.polygon
        if any(on_segment(x, y, a, b) for a, b in zip(points, points[1:] + points[:1], strict=True)):
            return True
        inside = False
        j = len(points) - 1
        for i in range(len(points)):
            xi, yi = points[i]
            xj, yj = points[j]
            if (yi > y) != (yj > y):
                cross = (xj - xi) * (y - yi) / (yj - yi) + xi
                if x < cross:
                    inside = not inside
            j = i
        return inside


@dataclass(frozen=True)
class Placed:
    """A tracked person reduced to what zones need: id, bottom centre (relative), confidence."""

    track_id: int
    x: float
    y: float
    confidence: float


@dataclass(frozen=True)
class ZoneReading:
    """What the detector sees in a zone on one frame, before inertia."""

    count: int
    track_ids: tuple[int, ...]
    confidence: float | None


def read_zones(zones: Sequence[ZoneShape], persons: Sequence[Placed]) -> dict[str, ZoneReading]:
    out = {}
    for zone in zones:
        inside = [p for p in persons if zone.contains(p.x, p.y)]
        out[zone.id] = ZoneReading(
            count=len(inside),
            track_ids=tuple(sorted(p.track_id for p in inside)),
            confidence=min((p.confidence for p in inside), default=None),
        )
    return out


@dataclass(frozen=True)
class ZoneChange:
    """A zone's confirmed count changed: emitted once, after inertia."""

    zone: str
    count: int
    previous: int | None
    track_ids: tuple[int, ...]
    confidence: float | None
    since_ms: int
    """When the new count was first seen (not when it was confirmed)."""


@dataclass
class ZoneCounter:
    """Confirmed count of one zone; ``update`` returns a change once a new state is established.

    Kept: the readings since the last confirmation, at most ``4 × inertia_ms`` back."""

    zone: str
    inertia_ms: int = 2000
    count: int | None = None
    since_ms: int | None = None
    _samples: list[tuple[int, int]] = field(default_factory=list, repr=False)

    @property
    def changing(self) -> bool:
        """A reading other than the confirmed count is in the inertia window."""
        return any(c != self.count for t, c in self._recent(self._now()))

    def _now(self) -> int:
        return self._samples[-1][0] if self._samples else 0

    def _recent(self, now_ms: int) -> list[tuple[int, int]]:
        return [(t, c) for t, c in self._samples if t > now_ms - self.inertia_ms]

    def _change_point(self, target: int) -> int:
        """Index of the first sample of the new state: the reading of ``target`` that starts the
        stretch with the most readings of ``target`` minus readings at (or back past) the
        confirmed count; readings between the two count for neither. Ties go to the earliest: one
        contradicting sample does not cut a run."""
        assert self.count is not None
        up = target > self.count
        best, best_at, score = 0, len(self._samples) - 1, 0
        for index in range(len(self._samples) - 1, -1, -1):
            value = self._samples[index][1]
            if value == target:
                score += 1
                if score >= best:
                    best, best_at = score, index
            elif (value <= self.count) if up else (value >= self.count):
                score -= 1
        return best_at

    def update(self, reading: ZoneReading, now_ms: int) -> ZoneChange | None:
        self._samples.append((now_ms, reading.count))
        horizon = now_ms - 4 * self.inertia_ms
        while self._samples and self._samples[0][0] < horizon:
            self._samples.pop(0)
        if self.count is None:  # the first reading is the baseline
            return self._confirm(reading, reading.count, now_ms)
        window = sorted(c for _, c in self._recent(now_ms) or self._samples[-1:])
        lower, upper = window[(len(window) - 1) // 2], window[len(window) // 2]
        # a tie between old and new is no move: the median nearest the confirmed count
        median = upper if upper < self.count else lower if lower > self.count else self.count
        up = median > self.count
        still_moved = reading.count > self.count if up else reading.count < self.count
        if median == self.count or not still_moved:  # readings already back: no confirmation
            return None
        since = self._samples[self._change_point(median)][0]
        if now_ms - since < self.inertia_ms:
            return None
        return self._confirm(reading, median, since)

    def _confirm(self, reading: ZoneReading, count: int, since_ms: int) -> ZoneChange:
        previous, self.count, self.since_ms = self.count, count, since_ms
        self._samples = [(t, c) for t, c in self._samples if t >= since_ms]
        return ZoneChange(
            zone=self.zone,
            count=count,
            previous=previous,
            track_ids=reading.track_ids,
            confidence=reading.confidence,
            since_ms=since_ms,
        )

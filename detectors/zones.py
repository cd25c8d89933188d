"""Zones of a camera image and the inertia that keeps their counts from flickering.

A person is in a zone when the bottom centre of their box (where they stand or sit) is inside
the zone's polygon, in coordinates relative to the image (0..1), so zones survive a change of
stream resolution. A zone's count changes only after the new value has held for ``inertia_ms``:
a reflection, or one frame in which the detector missed a seated person, changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

Point = tuple[float, float]


@dataclass(frozen=True)
class ZoneShape:
    id: str
    role: str
    polygon: tuple[Point, ...]

    def contains(self, x: float, y: float) -> bool:
        """Even-odd ray casting; points on the top/left edges count as inside."""
        inside = False
        points = self.polygon
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
    """Confirmed count of one zone; ``update`` returns a change once a new count has held."""

    zone: str
    inertia_ms: int = 2000
    count: int | None = None
    since_ms: int | None = None
    _pending: int | None = field(default=None, repr=False)
    _pending_since: int = field(default=0, repr=False)

    @property
    def changing(self) -> bool:
        """A different count has been seen and waits for confirmation."""
        return self._pending is not None

    def update(self, reading: ZoneReading, now_ms: int) -> ZoneChange | None:
        if reading.count == self.count:
            self._pending = None
            return None
        if reading.count != self._pending:
            self._pending = reading.count
            self._pending_since = now_ms
        if self.count is not None and now_ms - self._pending_since < self.inertia_ms:
            return None
        previous = self.count
        self.count = reading.count
        self.since_ms = self._pending_since
        self._pending = None
        return ZoneChange(
            zone=self.zone,
            count=reading.count,
            previous=previous,
            track_ids=reading.track_ids,
            confidence=reading.confidence,
            since_ms=self._pending_since,
        )

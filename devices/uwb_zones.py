"""Which zone a UWB-located band is in: x/y inside a polygon, with a hold time.

UWB engines give coordinates (metres, the site's own frame) a few times a second with ~10–30 cm
jitter, so a band standing in a doorway flickers between two polygons. A band moves to another
zone only when its points have been inside that zone continuously for ``hold_ms``; points outside
every polygon leave the band where it was (a corridor nobody drew is not "lost"). Pure.
"""

from __future__ import annotations

from dataclasses import dataclass, field

Point = tuple[float, float]


def inside(point: Point, polygon: list[Point]) -> bool:
    """Ray casting (even-odd). Where two rooms share a wall, a point exactly on it belongs to one
    of them only, so no point is in two rooms at once."""
    x, y = point
    result = False
    n = len(polygon)
    for i in range(n):
        x1, y1 = polygon[i]
        x2, y2 = polygon[(i + 1) % n]
        if (y1 > y) != (y2 > y):
            cross = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
            if x < cross:
                result = not result
    return result


@dataclass(frozen=True)
class ZoneChange:
    band: str
    zone: str
    previous: str | None
    x: float
    y: float


@dataclass
class _Band:
    zone: str | None = None
    candidate: str | None = None
    since: int = 0


@dataclass
class PolygonZones:
    polygons: dict[str, list[Point]]
    hold_ms: int = 3000
    bands: dict[str, _Band] = field(default_factory=dict)

    def zone_of(self, point: Point) -> str | None:
        for zone, polygon in self.polygons.items():
            if inside(point, polygon):
                return zone
        return None

    def located(self, band: str, x: float, y: float, now_ms: int) -> ZoneChange | None:
        state = self.bands.setdefault(band, _Band())
        zone = self.zone_of((x, y))
        if zone is None or zone == state.zone:
            state.candidate = None
            return None
        if state.zone is None:
            state.zone = zone
            return ZoneChange(band, zone, None, x, y)
        if state.candidate != zone:
            state.candidate, state.since = zone, now_ms
            return None
        if now_ms - state.since < self.hold_ms:
            return None
        previous, state.zone, state.candidate = state.zone, zone, None
        return ZoneChange(band, zone, previous, x, y)

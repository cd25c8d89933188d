"""Per-camera vision logic between frames and observations, without threads or I/O.

For every frame the camera pipeline decides whether the detector must look:

- when there is motion (someone moved, entered, left);
- when a zone is occupied and it has not looked for ``recheck_s`` — whatever the motion.
  Seated, still people are the normal case in an interrogation room; a detector gated on motion
  alone stops seeing them, and the room looks empty: a false "unattended" alarm;
- every ``idle_recheck_s`` even when all zones are empty (someone may have entered unseen while
  the camera was covered or offline).

With a ``RegionPolicy`` the detector also looks at square crops of large frames
(``detectors.regions``): the pipeline notes where motion was, plans the crops with each detection
and merges their boxes with the whole frame's before tracking.

Detections are tracked, placed in zones by the bottom centre of their box, and each zone's
count goes through inertia before it changes. Health is measured at most ``health_interval_s``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from detectors.detection import Detection
from detectors.health import HealthChange, HealthLimits, Watchdog, measure
from detectors.motion import MotionDetector
from detectors.regions import Crop, RegionPlanner, RegionPolicy
from detectors.tracker import IouTracker, Track
from detectors.zones import Placed, ZoneChange, ZoneCounter, ZoneShape, read_zones


@dataclass(frozen=True)
class GatePolicy:
    recheck_s: float = 3.0
    idle_recheck_s: float = 15.0
    inertia_s: float = 2.0
    health_interval_s: float = 1.0


@dataclass
class CameraPipeline:
    camera: str
    zones: Sequence[ZoneShape]
    policy: GatePolicy = field(default_factory=GatePolicy)
    health_limits: HealthLimits | None = None
    regions: RegionPolicy | None = None

    def __post_init__(self) -> None:
        self.motion = MotionDetector()
        self.planner = RegionPlanner(self.regions) if self.regions is not None else None
        self.tracker = IouTracker()
        self.watchdog = Watchdog(self.health_limits)
        inertia_ms = int(self.policy.inertia_s * 1000)
        self.counters = {zone.id: ZoneCounter(zone.id, inertia_ms) for zone in self.zones}
        self.last_detection_ms: int | None = None
        self.last_tracks: list[Track] = []
        self._last_health_ms: int | None = None
        self.gated = 0
        self.detected = 0

    def occupied(self) -> bool:
        return any((counter.count or 0) > 0 for counter in self.counters.values())

    def needs_detection(self, frame: np.ndarray, now_ms: int) -> bool:
        motion = self.motion.update(frame)
        if self.planner is not None:
            self.planner.note_motion(motion.mask)
        moving = motion.any
        since = None if self.last_detection_ms is None else (now_ms - self.last_detection_ms) / 1000.0
        due = (
            since is None
            or (self.occupied() and since >= self.policy.recheck_s)
            or since >= self.policy.idle_recheck_s
            or any(c.changing for c in self.counters.values())  # confirm a change quickly
        )
        if moving or due:
            return True
        self.gated += 1
        return False

    def plan_crops(self, width: int, height: int, now_ms: int) -> list[Crop]:
        """The crops to detect on beside the whole frame (none without a region policy)."""
        return self.planner.plan(width, height, now_ms) if self.planner is not None else []

    def observe(
        self,
        detections: Sequence[Detection],
        width: int,
        height: int,
        now_ms: int,
        crops: Sequence[tuple[Crop, Sequence[Detection]]] = (),
    ) -> list[ZoneChange]:
        """Detections of one frame (the whole frame's, and the planned crops' in crop pixels)
        -> zone changes confirmed by inertia."""
        if self.planner is not None:
            for crop, boxes in crops:
                self.planner.record(crop, boxes, now_ms)
            detections = self.planner.merge(detections, now_ms)
        self.detected += 1
        self.last_detection_ms = now_ms
        self.last_tracks = self.tracker.update(detections)
        placed = [
            Placed(t.track_id, (t.box.x1 + t.box.x2) / 2 / width, t.box.y2 / height, t.box.confidence)
            for t in self.last_tracks
        ]
        readings = read_zones(self.zones, placed)
        changes = []
        for zone_id, reading in readings.items():
            change = self.counters[zone_id].update(reading, now_ms)
            if change is not None:
                changes.append(change)
        return changes

    def health(self, frame: np.ndarray | None, now_ms: int) -> HealthChange | None:
        """Feed a frame (or ``None`` from a timer) to the watchdog, at most once per interval."""
        now_s = now_ms / 1000.0
        if frame is None:
            return self.watchdog.tick(now_s)
        if (
            self._last_health_ms is not None
            and now_ms - self._last_health_ms < self.policy.health_interval_s * 1000
        ):
            return None
        self._last_health_ms = now_ms
        return self.watchdog.frame(measure(frame), now_s)

"""What the vision service tells the agent: zone counts, camera health, clips.

Each observation converts to the ``data`` of its wire kind (``protocol.data``), so the agent
only adds the envelope.
"""

from __future__ import annotations

from dataclasses import dataclass

from protocol.data import CameraHealth, EvidenceClip, Occupancy


@dataclass(frozen=True)
class ZoneObservation:
    camera: str
    room: str
    zone: str
    role: str
    count: int
    previous: int | None
    track_ids: tuple[int, ...]
    confidence: float | None
    since_ms: int
    snapshot: str | None

    def data(self) -> Occupancy:
        return Occupancy(
            count=self.count,
            previous=self.previous,
            track_ids=list(self.track_ids),
            confidence=None if self.confidence is None else round(min(1.0, max(0.0, self.confidence)), 3),
            since=self.since_ms,
            snapshot=self.snapshot,
        )


@dataclass(frozen=True)
class HealthObservation:
    camera: str
    room: str
    state: str
    previous: str | None
    since_ms: int
    detail: str
    fps: float | None
    snapshot: str | None

    def data(self) -> CameraHealth:
        return CameraHealth.model_validate(
            {
                "state": self.state,
                "previous": self.previous,
                "since": self.since_ms,
                "detail": self.detail[:1000],
                "fps": None if self.fps is None else round(self.fps, 2),
                "snapshot": self.snapshot,
            }
        )


@dataclass(frozen=True)
class ClipObservation:
    camera: str
    room: str
    clip_id: str
    condition_id: str | None
    path: str
    start_ms: int
    end_ms: int
    size_bytes: int
    sha256: str

    def data(self) -> EvidenceClip:
        return EvidenceClip(
            clip_id=self.clip_id,
            condition_id=self.condition_id,
            path=self.path,
            start=self.start_ms,
            end=self.end_ms,
            size_bytes=self.size_bytes,
            sha256=self.sha256,
        )


Observation = ZoneObservation | HealthObservation | ClipObservation

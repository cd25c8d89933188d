"""Evidence a supervisor can look at: annotated snapshots and short video clips.

Snapshots are JPEGs with the person boxes and the zones drawn, written when a zone count or a
camera's health changes, named by camera and time, and deleted after the retention period.
Each camera keeps a ring buffer of its last ``seconds`` of analysed frames (JPEG-compressed, so
eight cameras fit in tens of megabytes); ``ClipRecorder`` writes an MP4 from N s before to N s
after a moment once the "after" part has been captured. Paths in events are relative to the
evidence root, so the hub can fetch them from the agent.
"""

from __future__ import annotations

import collections
import datetime as dt
import hashlib
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from detectors.tracker import Track
from detectors.zones import ZoneShape

ROLE_COLOURS = {
    "officers": (60, 180, 60),
    "detainee_seat": (40, 140, 240),
    "door": (200, 160, 40),
    "exit": (40, 40, 220),
}


def annotate(frame: np.ndarray, zones: Sequence[ZoneShape], tracks: Sequence[Track]) -> np.ndarray:
    out = frame.copy()
    height, width = out.shape[:2]
    for zone in zones:
        points = np.array([[x * width, y * height] for x, y in zone.polygon], np.int32)
        colour = ROLE_COLOURS.get(zone.role, (200, 200, 200))
        cv2.polylines(out, [points], True, colour, 2)
        cv2.putText(out, zone.id, tuple(points[0] + (6, 22)), cv2.FONT_HERSHEY_SIMPLEX, 0.6, colour, 2)
    for track in tracks:
        b = track.box
        cv2.rectangle(out, (int(b.x1), int(b.y1)), (int(b.x2), int(b.y2)), (0, 0, 255), 2)
        label = f"#{track.track_id} {b.confidence:.2f}"
        cv2.putText(
            out, label, (int(b.x1), max(14, int(b.y1) - 6)), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 255), 2
        )
    return out


def _stamp(ts_ms: int) -> str:
    return dt.datetime.fromtimestamp(ts_ms / 1000, dt.UTC).strftime("%Y%m%dT%H%M%S.%f")[:-3] + "Z"


class SnapshotStore:
    def __init__(self, root: Path, *, retention_days: int = 30, quality: int = 85) -> None:
        self.root = root
        self.retention_s = retention_days * 86400
        self.quality = quality
        self._last_prune = 0.0

    @staticmethod
    def path_for(camera: str, ts_ms: int) -> str:
        return (Path("snapshots") / camera / f"{_stamp(ts_ms)}.jpg").as_posix()

    def save(self, camera: str, frame: np.ndarray, ts_ms: int) -> str:
        """Write a JPEG; return its path relative to the evidence root."""
        relative = Path(self.path_for(camera, ts_ms))
        target = self.root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        ok, data = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, self.quality])
        if not ok:
            raise OSError("JPEG encoding failed")
        tmp = target.with_suffix(".part")
        tmp.write_bytes(data.tobytes())
        tmp.replace(target)
        if time.monotonic() - self._last_prune > 3600:
            self.prune()
        return relative.as_posix()

    def prune(self, now: float | None = None) -> int:
        """Delete snapshots and clips older than the retention; return how many."""
        self._last_prune = time.monotonic()
        cutoff = (now if now is not None else time.time()) - self.retention_s
        removed = 0
        for folder in ("snapshots", "clips"):
            for path in (self.root / folder).glob("*/*"):
                if path.is_file() and path.stat().st_mtime < cutoff:
                    path.unlink(missing_ok=True)
                    removed += 1
        return removed


@dataclass
class FrameRing:
    """The last ``seconds`` of one camera's frames, JPEG-compressed."""

    seconds: float = 20.0
    quality: int = 75
    frames: collections.deque[tuple[int, bytes]] = field(default_factory=collections.deque)
    size: tuple[int, int] | None = None

    def add(self, frame: np.ndarray, ts_ms: int) -> None:
        ok, data = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, self.quality])
        if not ok:
            return
        self.size = (frame.shape[1], frame.shape[0])
        self.frames.append((ts_ms, data.tobytes()))
        horizon = ts_ms - int(self.seconds * 1000)
        while self.frames and self.frames[0][0] < horizon:
            self.frames.popleft()

    def between(self, start_ms: int, end_ms: int) -> list[tuple[int, bytes]]:
        return [(ts, jpg) for ts, jpg in self.frames if start_ms <= ts <= end_ms]

    @property
    def memory_bytes(self) -> int:
        return sum(len(jpg) for _, jpg in self.frames)


@dataclass(frozen=True)
class Clip:
    clip_id: str
    camera: str
    path: str
    start_ms: int
    end_ms: int
    frames: int
    size_bytes: int
    sha256: str


@dataclass
class ClipRequest:
    clip_id: str
    camera: str
    start_ms: int
    end_ms: int


class ClipRecorder:
    """Writes clips around requested moments from the cameras' rings once the moment has passed."""

    def __init__(self, root: Path, *, fps: float = 5.0) -> None:
        self.root = root
        self.fps = fps
        self._pending: list[ClipRequest] = []
        self._lock = threading.Lock()

    def request(
        self, clip_id: str, camera: str, at_ms: int, *, before_s: float = 10.0, after_s: float = 10.0
    ) -> None:
        with self._lock:
            self._pending.append(
                ClipRequest(clip_id, camera, at_ms - int(before_s * 1000), at_ms + int(after_s * 1000))
            )

    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

    def due(self, camera: str, latest_ms: int) -> list[ClipRequest]:
        """Requests of a camera whose end has been reached by its frames."""
        with self._lock:
            ready = [r for r in self._pending if r.camera == camera and r.end_ms <= latest_ms]
            self._pending = [r for r in self._pending if r not in ready]
        return ready

    def write(self, request: ClipRequest, ring: FrameRing) -> Clip | None:
        frames = ring.between(request.start_ms, request.end_ms)
        if not frames or ring.size is None:
            return None
        relative = Path("clips") / request.camera / f"{request.clip_id}.mp4"
        target = self.root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.stem + ".part.mp4")
        writer = cv2.VideoWriter(str(partial), cv2.VideoWriter.fourcc(*"mp4v"), self.fps, ring.size)
        if not writer.isOpened():
            raise OSError(f"cannot write {partial}")
        try:
            for _, jpg in frames:
                image = cv2.imdecode(np.frombuffer(jpg, np.uint8), cv2.IMREAD_COLOR)
                if image is not None and (image.shape[1], image.shape[0]) == ring.size:
                    writer.write(image)
        finally:
            writer.release()
        partial.replace(target)
        data = target.read_bytes()
        return Clip(
            clip_id=request.clip_id,
            camera=request.camera,
            path=relative.as_posix(),
            start_ms=frames[0][0],
            end_ms=frames[-1][0],
            frames=len(frames),
            size_bytes=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
        )

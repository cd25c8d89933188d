"""The latest JPEG each camera's agent published (retained on ``…/snapshots/{camera}``).

Kept in memory only — a picture of a room is not an event and never enters the log — bounded
in count and size: an agent gone wrong cannot fill the hub's memory.
"""

from __future__ import annotations

import threading

MAX_SNAPSHOT_BYTES = 2 * 1024 * 1024
MAX_CAMERAS = 512


class SnapshotCache:
    def __init__(self) -> None:
        self._latest: dict[str, tuple[int, bytes]] = {}
        self._lock = threading.Lock()

    def keep(self, topic: str, payload: bytes, now_ms: int) -> str | None:
        """Store what arrived on a snapshot topic; the camera when something changed."""
        camera = topic.rsplit("/", 1)[-1]
        with self._lock:
            if not payload:  # the retained snapshot was cleared
                return camera if self._latest.pop(camera, None) is not None else None
            if len(payload) > MAX_SNAPSHOT_BYTES:
                return None
            if camera not in self._latest and len(self._latest) >= MAX_CAMERAS:
                return None
            self._latest[camera] = (now_ms, payload)
        return camera

    def get(self, camera: str) -> tuple[int, bytes] | None:
        with self._lock:
            return self._latest.get(camera)

    def received(self) -> dict[str, int]:
        """Camera → when its latest snapshot arrived (ms)."""
        with self._lock:
            return {camera: at for camera, (at, _jpeg) in self._latest.items()}

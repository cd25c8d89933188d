"""The latest signed picture of each camera (retained on ``…/{agent}/snapshots/{camera}``).

Kept in memory only — a picture of a room is not an event and never enters the log — bounded
in count and size: an agent gone wrong cannot fill the hub's memory. A picture becomes alert
evidence and fills the console, so it is kept only when it is signed (protocol/files.py, the
evidence-file header: agent, ``snapshots/{camera}/live.jpg``, ts, sha256) by a **configured**
agent on that agent's own topic, for the camera the topic names; the newest picture (by its
signed ``ts``) of each agent and camera wins, and none older than ten minutes is taken, so an old
one replayed never replaces it. An empty retained payload (a "clear", which nobody signs) changes
nothing. A camera is looked up through its owner — the first agent whose signed health events name
it — so a picture another agent published for someone else's camera is never shown or kept as
evidence. Bounded: 64 cameras per agent, 512 in all, 256 MB.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass

from protocol.errors import ProtocolError
from protocol.files import FileError, decode_file, snapshot_path
from protocol.signing import Keyring
from protocol.topics import SnapshotTopic

MAX_SNAPSHOT_BYTES = 2 * 1024 * 1024
MAX_CAMERAS = 512
MAX_PER_AGENT = 64
"""An edge box has a few dozen cameras at most: one agent cannot fill the cache for the others."""
MAX_TOTAL_BYTES = 256 * 1024 * 1024
MAX_FUTURE_MS = 300_000
MAX_AGE_MS = 600_000
"""A picture older than this (by its signed time) is refused: an old one replayed, after a restart
too, never shows as the room now."""


@dataclass(frozen=True)
class Snapshot:
    agent: str
    camera: str
    ts: int
    """When the agent took it (signed)."""
    received_ms: int
    jpeg: bytes


class SnapshotCache:
    def __init__(self, keyring: Keyring | None = None, *, center: str = "") -> None:
        self.keyring = keyring or Keyring()
        self.center = center
        self.counters: Counter[str] = Counter()
        """``kept``; ``refused`` (unsigned, unknown agent, wrong camera or centre, too large, dated
        ahead or too old); ``stale`` (not newer than the one kept); ``full`` (too many cameras for
        the agent or in all, or too many bytes); ``clears_ignored``."""
        self._latest: dict[tuple[str, str], Snapshot] = {}
        self._bytes = 0
        self._lock = threading.Lock()

    def _full(self, agent: str) -> bool:
        """No room for one more camera (of this agent): the caller holds the lock."""
        mine = sum(1 for owner, _camera in self._latest if owner == agent)
        return (
            mine >= MAX_PER_AGENT
            or len(self._latest) >= MAX_CAMERAS
            or self._bytes + MAX_SNAPSHOT_BYTES > MAX_TOTAL_BYTES
        )

    def receive(self, topic: SnapshotTopic, payload: bytes, now_ms: int) -> str | None:
        """A message on a snapshot topic: the camera when what the console shows changed.
        Raises ``ProtocolError`` (counted) for a picture that is not kept."""
        key = (topic.agent, topic.camera)
        if not payload:  # an unsigned clear: anyone on the broker could send it
            self.counters["clears_ignored"] += 1
            return None
        try:
            if topic.center != self.center:
                raise FileError(f"centre {topic.center!r} is not this hub's")
            if len(payload) > MAX_SNAPSHOT_BYTES + 4096:
                raise FileError(f"{len(payload)} bytes: larger than a snapshot may be")
            found = decode_file(payload, self.keyring, center=topic.center, agent=topic.agent)
            if found.path != snapshot_path(topic.camera):
                raise FileError(f"the header names {found.path!r}, not {topic.camera!r}'s snapshot")
            if found.ts > now_ms + MAX_FUTURE_MS:
                raise FileError("dated in the future")
            if found.ts < now_ms - MAX_AGE_MS:
                raise FileError("taken more than ten minutes ago")
        except ProtocolError:
            self.counters["refused"] += 1
            raise
        picture = Snapshot(topic.agent, topic.camera, found.ts, now_ms, found.body)
        with self._lock:
            old = self._latest.get(key)
            if old is not None and old.ts >= picture.ts:
                self.counters["stale"] += 1
                return None
            if old is None and self._full(topic.agent):
                self.counters["full"] += 1
                return None
            self._bytes += len(picture.jpeg) - (len(old.jpeg) if old is not None else 0)
            self._latest[key] = picture
        self.counters["kept"] += 1
        return topic.camera

    def get(self, camera: str, owner: str | None = None) -> Snapshot | None:
        """The camera's picture from its owner; without a known owner, only an unambiguous one."""
        with self._lock:
            if owner is not None:
                return self._latest.get((owner, camera))
            found = [s for (_agent, cam), s in self._latest.items() if cam == camera]
        return found[0] if len(found) == 1 else None

    def received(self, owners: dict[str, str | None] | None = None) -> dict[str, int]:
        """Camera → when its (owner's) latest picture was taken (ms)."""
        owners = owners or {}
        with self._lock:
            cameras = {cam for _agent, cam in self._latest}
        out = {}
        for camera in cameras:
            found = self.get(camera, owners.get(camera))
            if found is not None:
                out[camera] = found.ts
        return out

"""The latest signed picture of each camera (retained on ``…/{agent}/snapshots/{camera}``).

Kept in memory only — a picture of a room is not an event and never enters the log — bounded
in count and size: an agent gone wrong cannot fill the hub's memory. A picture becomes alert
evidence and fills the console, so it is kept only when it is signed (protocol/files.py, the
evidence-file header: agent, ``snapshots/{camera}/live.jpg``, ts, sha256) by a **configured**
agent on that agent's own topic, for the camera the topic names; the newest picture (by its
signed ``ts``) of each agent and camera wins, so an old one replayed never replaces it. A camera is
looked up through its owner — the agent whose signed health events name it — so a picture another
agent published for someone else's camera is never shown or kept as evidence.
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
MAX_FUTURE_MS = 300_000


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
        ahead); ``stale`` (not newer than the one kept); ``full`` (too many cameras)."""
        self._latest: dict[tuple[str, str], Snapshot] = {}
        self._lock = threading.Lock()

    def receive(self, topic: SnapshotTopic, payload: bytes, now_ms: int) -> str | None:
        """A message on a snapshot topic: the camera when what the console shows changed.
        Raises ``ProtocolError`` (counted) for a picture that is not kept."""
        key = (topic.agent, topic.camera)
        if not payload:  # the retained snapshot was cleared (by its own agent's topic)
            with self._lock:
                return topic.camera if self._latest.pop(key, None) is not None else None
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
        except ProtocolError:
            self.counters["refused"] += 1
            raise
        picture = Snapshot(topic.agent, topic.camera, found.ts, now_ms, found.body)
        with self._lock:
            old = self._latest.get(key)
            if old is not None and old.ts >= picture.ts:
                self.counters["stale"] += 1
                return None
            if old is None and len(self._latest) >= MAX_CAMERAS:
                self.counters["full"] += 1
                return None
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

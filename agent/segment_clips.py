"""Evidence clips cut from the continuous recording (H.264 as the camera sent it, browser-playable).

A condition's clip around its start (``clip_before_s`` … ``clip_after_s``) is, when the camera is
recorded, the run of segments overlapping that window joined without re-encoding
(foundation/video_join.py) — the same video the person's package holds — instead of the vision
pipeline's own MPEG-4 Part 2 writer, which browsers cannot play. The clip is made once the
segment holding the window's end has closed; its start and end are the segments' (keyframes), so
it covers at least the window asked for, at most a segment more on each side.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from agent.recording import listing
from agent.segments import segments
from detectors.observations import ClipObservation
from foundation.video_join import JoinError, join_segments
from protocol.clock import Clock

log = logging.getLogger(__name__)
SETTLE_MS = 5_000
GIVE_UP_MS = 10 * 60_000
"""A window with no segment yet this long after its end is dropped (the camera was not recorded)."""


@dataclass(frozen=True)
class ClipJob:
    clip_id: str
    camera: str
    room: str
    condition_id: str | None
    start: int
    end: int


class SegmentClips:
    def __init__(
        self, recordings: Path, evidence: Path, *, segment_s: int, clock: Clock,
        done: Callable[[ClipObservation], None],
    ) -> None:  # fmt: skip
        self.recordings, self.evidence, self.clock, self.done = recordings, evidence, clock, done
        self.wait_ms = segment_s * 1000 + SETTLE_MS
        self.counters = {"clips_made": 0, "clips_failed": 0}
        self._jobs: list[ClipJob] = []
        self._lock = threading.Lock()

    def request(self, job: ClipJob) -> None:
        with self._lock:
            self._jobs.append(job)

    def protected(self) -> list[tuple[int, int]]:
        """Windows whose clip is not made yet: retention keeps their segments."""
        with self._lock:
            return [(j.start, j.end) for j in self._jobs]

    def poll(self) -> int:
        now = self.clock.now_ms()
        with self._lock:
            due = [j for j in self._jobs if j.end + self.wait_ms <= now]
            self._jobs = [j for j in self._jobs if j not in due]
        for job in due:
            self._make(job, now)
        return len(due)

    def _make(self, job: ClipJob, now: int) -> None:
        everything = segments(job.camera, listing(self.recordings / job.camera))
        found = [s for s in everything if s.start_ms < job.end and s.end_ms > job.start]
        growing = bool(found) and found[-1] is everything[-1] and now - found[-1].end_ms < self.wait_ms
        if growing and now - job.end < GIVE_UP_MS:  # its last segment may still grow (a long GOP)
            self.request(job)
            return
        if not found:
            if now - job.end < GIVE_UP_MS:
                self.request(job)  # the recorder may be catching up after a restart
            else:
                self.counters["clips_failed"] += 1
                log.warning("clip %s of %s: no recording of that time", job.clip_id, job.camera)
            return
        path = f"clips/{job.camera}/{job.clip_id}.mp4"
        target = self.evidence / path
        try:
            join_segments([self.recordings / job.camera / s.name for s in found], target, timeout_s=120)
            body = target.read_bytes()
        except (JoinError, OSError) as exc:
            self.counters["clips_failed"] += 1
            log.error("clip %s of %s not made: %s", job.clip_id, job.camera, exc)
            return
        self.counters["clips_made"] += 1
        self.done(ClipObservation(
            camera=job.camera, room=job.room, clip_id=job.clip_id, condition_id=job.condition_id, path=path,
            start_ms=found[0].start_ms, end_ms=found[-1].end_ms, size_bytes=len(body),
            sha256=hashlib.sha256(body).hexdigest(),
        ))  # fmt: skip

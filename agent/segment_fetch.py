"""Answers the hub's segment requests (protocol/fetch.py): list a range's segments, send each one.

The hub names ranges (camera, start, end) it needs for a person's package. Once a range's end has
passed — and the segment holding it had time to close — the agent lists the segments overlapping
it with their size and sha256 in one ``recording.segments`` event (logged in the hub's chain) and
queues each file for the durable upload queue (agent/uploads.py), one signed file per segment.
While a range is requested its segments are kept from retention (``protected``). An answered
range is not answered again while the same request stays; a restarted agent answers it once more
(the hub keeps the latest answer; files arrive again, byte for byte the same).
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable, Mapping
from pathlib import Path

from agent.recording import listing
from agent.segments import Segment, segments
from protocol.clock import Clock
from protocol.data import RecordingSegments, SegmentInfo
from protocol.fetch import FetchRequest, Keep, Range

log = logging.getLogger(__name__)
SETTLE_MS = 5_000
GIVE_UP_WAITING_MS = 10 * 60_000
"""A segment still growing this long after the range ended is listed as it is (a recorder stuck)."""
MAX_LISTED = 400
_DIGESTS_KEPT = 20_000


def segment_path(camera: str, name: str) -> str:
    """The evidence path a segment travels under (protocol/files.py)."""
    return f"segments/{camera}/{name}"


class SegmentFetch:
    def __init__(
        self,
        root: Path,
        cameras: Mapping[str, str | None],
        *,
        segment_s: int,
        clock: Clock,
        answer: Callable[[Range, str | None, RecordingSegments], None],
        send: Callable[[str], None],
    ) -> None:
        """``cameras``: camera -> room; ``answer(range, room, data)`` emits the event, ``send(path)``
        queues a file."""
        self.root, self.cameras, self.clock = root, dict(cameras), clock
        self.wait_ms = segment_s * 1000 + SETTLE_MS
        self.answer, self.send = answer, send
        self.counters = {"ranges_answered": 0, "segments_sent": 0}
        self._ranges: tuple[Range, ...] = ()
        self._keep: tuple[Keep, ...] = ()
        self._answered: set[Range] = set()
        self._digests: dict[tuple[str, str, int, int], str] = {}
        self._lock = threading.Lock()

    def request(self, request: FetchRequest) -> None:
        """The hub's current request replaces the last one (an empty one: nothing wanted)."""
        with self._lock:
            self._ranges = request.ranges
            self._keep = request.keep
            self._answered &= set(request.ranges)

    def protected(self) -> list[tuple[int, int]]:
        """Intervals retention must keep: every range still requested, every one to keep."""
        with self._lock:
            return [(r.start, r.end) for r in self._ranges] + [(k.start, k.end) for k in self._keep]

    def poll(self) -> int:
        """Answer the ranges whose end has passed; returns how many were answered."""
        now = self.clock.now_ms()
        with self._lock:
            due = [r for r in self._ranges if r not in self._answered and r.end + self.wait_ms <= now]
        answered = 0
        for found in due:
            if not self._answer(found, now):
                continue  # its last segment is still being written: next round
            answered += 1
            with self._lock:
                if found in self._ranges:
                    self._answered.add(found)
        return answered

    def _answer(self, wanted: Range, now: int) -> bool:
        """False while the camera's newest segment overlaps the range and may still be growing
        (a long keyframe interval, a stall): its size and digest are not final yet."""
        everything = (
            []
            if wanted.camera not in self.cameras
            else segments(wanted.camera, listing(self.root / wanted.camera))
        )
        held = [s for s in everything if s.start_ms < wanted.end and s.end_ms > wanted.start]
        growing = bool(everything) and everything[-1] in held and now - everything[-1].end_ms < self.wait_ms
        if growing and now - wanted.end < GIVE_UP_WAITING_MS:
            return False
        infos = []
        for seg in held[:MAX_LISTED]:
            digest = self._digest(seg)
            if digest is not None:
                infos.append(SegmentInfo(name=seg.name, start=seg.start_ms, end=seg.end_ms, size=seg.size,
                                         sha256=digest))  # fmt: skip
        if len(held) > MAX_LISTED:
            log.warning("range %s lists %d segments: only the first %d", wanted.id, len(held), MAX_LISTED)
        data = RecordingSegments(request=wanted.id, start=wanted.start, end=wanted.end, segments=infos)
        self.answer(wanted, self.cameras.get(wanted.camera), data)
        for info in infos:  # after the event: the hub learns what to expect before the files come
            self.send(segment_path(wanted.camera, info.name))
        self.counters["ranges_answered"] += 1
        self.counters["segments_sent"] += len(infos)
        log.info("range %s of %s: %d segments sent to the hub", wanted.id, wanted.camera, len(infos))
        return True

    def _digest(self, seg: Segment) -> str | None:
        key = (seg.camera, seg.name, seg.size, seg.end_ms)
        if key in self._digests:
            return self._digests[key]
        sha = hashlib.sha256()
        try:
            with open(self.root / seg.camera / seg.name, "rb") as source:
                for block in iter(lambda: source.read(1 << 20), b""):
                    sha.update(block)
        except OSError as exc:  # deleted since the listing: not listed, not sent
            log.warning("segment %s/%s unreadable: %s", seg.camera, seg.name, exc)
            return None
        if len(self._digests) > _DIGESTS_KEPT:
            self._digests.clear()
        self._digests[key] = digest = sha.hexdigest()
        return digest

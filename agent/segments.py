"""Continuous recording's segments: what is on disk, which times it covers, what may go.

Each camera's recording is a folder of MP4 segments of ~10 s written by ffmpeg (agent/recording.py),
each named by the second it starts (``{unix seconds}.mp4``) and ending when the file was last
written. Pure: listings in, segments, holes and what to delete out — the recorder and the retention
thread do the I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

SEGMENT = re.compile(r"^(\d{9,11})\.mp4$")
SEGMENT_PATTERN = "%s.mp4"
"""ffmpeg's ``-strftime 1`` name: the segment's first second since 1970 (``%s``)."""


@dataclass(frozen=True)
class Segment:
    camera: str
    name: str
    start_ms: int
    end_ms: int
    size: int


def segments(camera: str, listing: Iterable[tuple[str, int, float]]) -> list[Segment]:
    """A folder's segments, oldest first, from ``(name, bytes, mtime seconds)`` entries. Other
    files (ffmpeg's partial names, anything an admin left) are not segments; an empty file is not
    one either (a segment ffmpeg opened and never wrote)."""
    out = []
    for name, size, mtime in listing:
        found = SEGMENT.match(name)
        if found is None or size <= 0:
            continue
        start = int(found.group(1)) * 1000
        out.append(Segment(camera, name, start, max(start, int(mtime * 1000)), size))
    return sorted(out, key=lambda s: s.start_ms)


def holes(
    found: Sequence[Segment], since_ms: int, until_ms: int, slack_ms: int = 2_000
) -> list[tuple[int, int]]:
    """The parts of ``[since, until)`` no segment covers, ignoring joins shorter than ``slack_ms``
    (a segment's end is its file's last write, a little before the next one starts)."""
    out: list[tuple[int, int]] = []
    at = since_ms
    for seg in found:
        if seg.end_ms <= at:
            continue
        if seg.start_ms >= until_ms:
            break
        if seg.start_ms - at > slack_ms:
            out.append((at, seg.start_ms))
        at = max(at, seg.end_ms)
    if until_ms - at > slack_ms:
        out.append((at, until_ms))
    return out


def to_delete(
    found: Sequence[Segment],
    *,
    now_ms: int,
    keep_ms: int,
    budget_bytes: int,
    protected: Sequence[tuple[int, int]] = (),
) -> list[Segment]:
    """What retention removes, oldest first: every segment older than ``keep_ms``, then the oldest
    until all segments fit ``budget_bytes``. Never a segment overlapping a ``protected`` interval
    (a package being built, an open alert) nor each camera's newest (ffmpeg may be writing it)."""
    newest: dict[str, tuple[int, str]] = {}
    for seg in found:
        if seg.start_ms >= newest.get(seg.camera, (-1, ""))[0]:
            newest[seg.camera] = (seg.start_ms, seg.name)
    keep = {(cam, name) for cam, (_start, name) in newest.items()}

    def free(seg: Segment) -> bool:
        if (seg.camera, seg.name) in keep:
            return False
        return not any(seg.start_ms < end and seg.end_ms > start for start, end in protected)

    ordered = sorted(found, key=lambda s: (s.start_ms, s.camera))
    doomed = [s for s in ordered if free(s) and s.end_ms < now_ms - keep_ms]
    total = sum(s.size for s in ordered) - sum(s.size for s in doomed)
    gone = {id(s) for s in doomed}
    for seg in ordered:
        if total <= budget_bytes:
            break
        if id(seg) not in gone and free(seg):
            doomed.append(seg)
            gone.add(id(seg))
            total -= seg.size
    return doomed

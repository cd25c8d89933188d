"""A small IoU tracker, one per camera.

Why not Ultralytics' ByteTrack/BoT-SORT: they keep their state inside one predictor and run in
``model.track``, but here one detector serves every camera in batches, and motion gating skips
most frames of a still room. Tracks only need to survive between detections of the same camera
to give stable ids for evidence and zone membership; greedy IoU matching does that for the few
people a room holds. A track missed on ``max_misses`` consecutive *detections* (not frames: a
gated frame is no evidence of absence) is dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from detectors.detection import Detection


@dataclass
class Track:
    track_id: int
    box: Detection
    hits: int = 1
    misses: int = 0


def iou(a: Detection, b: Detection) -> float:
    ix = max(0.0, min(a.x2, b.x2) - max(a.x1, b.x1))
    iy = max(0.0, min(a.y2, b.y2) - max(a.y1, b.y1))
    inter = ix * iy
    union = (a.x2 - a.x1) * (a.y2 - a.y1) + (b.x2 - b.x1) * (b.y2 - b.y1) - inter
    return inter / union if union > 0 else 0.0


class IouTracker:
    def __init__(self, *, min_iou: float = 0.3, max_misses: int = 2) -> None:
        self.min_iou = min_iou
        self.max_misses = max_misses
        self.tracks: list[Track] = []
        self._next_id = 1

    def update(self, detections: Sequence[Detection]) -> list[Track]:
        """Match a detection pass to the tracks; return the tracks seen in this pass."""
        pairs = sorted(
            (
                (iou(track.box, det), t, d)
                for t, track in enumerate(self.tracks)
                for d, det in enumerate(detections)
            ),
            reverse=True,
        )
        used_tracks: set[int] = set()
        used_dets: set[int] = set()
        for score, t, d in pairs:
            if score < self.min_iou:
                break
            if t in used_tracks or d in used_dets:
                continue
            used_tracks.add(t)
            used_dets.add(d)
            track = self.tracks[t]
            track.box = detections[d]
            track.hits += 1
            track.misses = 0
        seen = [self.tracks[t] for t in sorted(used_tracks)]
        for t, track in enumerate(self.tracks):
            if t not in used_tracks:
                track.misses += 1
        self.tracks = [track for track in self.tracks if track.misses <= self.max_misses]
        for d, det in enumerate(detections):
            if d not in used_dets:
                track = Track(self._next_id, det)
                self._next_id += 1
                self.tracks.append(track)
                seen.append(track)
        return seen

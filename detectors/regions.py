"""Region detection: the 320-px model on square crops of a large frame as well as on the whole.

Why: shrunk whole to 320 px, a 1080p frame turns a person 100 px tall into 17 px, below what
YOLOv8n finds — on the labelled street clip the far half of the scene was found 3 times in 101
(docs/vision.md). The 640-px model finds about half of them at four times the cost. NVRs such as
Frigate run the model on *regions* chosen around motion and known objects instead of the whole
frame. casewatch does the same within a fixed budget, per analysed frame:

- the whole frame still goes through the model: it finds the large, near people, fresh each time;
- the frame is covered by a grid of square crops of ``crop_px`` source pixels (640 on a 1080p
  frame sees people at three times the whole frame's scale); ``crops_per_frame`` (0.25: one crop
  every fourth analysed frame) goes to the crop that is *due* and has waited longest — due means
  never looked at, motion inside since it was last looked at, or results older than half of
  ``keep_s``. On a camera's first frame every crop is looked at once (nothing is known yet);
- a crop's detections are kept for ``keep_s`` and added to the fresh ones, except where a fresh
  detection is near a kept one (that person has moved and is already counted). Boxes cut by a
  crop's inner edge are dropped (the neighbour crop or the whole frame sees them whole); what two
  passes both saw is merged by overlap.

Frames smaller than 1.5 × ``crop_px`` on their long side get no crops: a crop would not see them
much larger than the whole frame does.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from detectors.detection import Detection, Detector

EDGE_PX = 2.0
"""A crop's box this close to an inner edge of the crop was cut by it."""
SAME_IOU = 0.5
SAME_INSIDE = 0.8
"""Two boxes are one person when they overlap by this IoU, or one lies this much inside the other."""
MOVED_IOU = 0.1
MOVED_NEAR = 0.4
"""A kept box is the same person as a fresh one when they overlap at all (IoU above ``MOVED_IOU``)
or their feet are within ``MOVED_NEAR`` × the person's height."""


@dataclass(frozen=True)
class RegionPolicy:
    crop_px: int = 640
    crops_per_frame: float = 0.25
    keep_s: float = 5.0


@dataclass(frozen=True)
class Crop:
    """A rectangle of the frame in pixels (square unless the frame is smaller than the side)."""

    x: int
    y: int
    width: int
    height: int

    def cut(self, frame: np.ndarray) -> np.ndarray:
        return frame[self.y : self.y + self.height, self.x : self.x + self.width]

    def to_frame(self, box: Detection, frame_w: int, frame_h: int) -> Detection | None:
        """A box found in the crop, in frame pixels; ``None`` when an inner edge of the crop cut it."""
        cut = (
            (box.x1 <= EDGE_PX and self.x > 0)
            or (box.y1 <= EDGE_PX and self.y > 0)
            or (box.x2 >= self.width - EDGE_PX and self.x + self.width < frame_w)
            or (box.y2 >= self.height - EDGE_PX and self.y + self.height < frame_h)
        )
        if cut:
            return None
        return Detection(box.x1 + self.x, box.y1 + self.y, box.x2 + self.x, box.y2 + self.y, box.confidence)


def crop_grid(width: int, height: int, crop_px: int) -> list[Crop]:
    """Square crops spread evenly over the frame, overlapping where the sides do not divide."""
    if max(width, height) < 1.5 * crop_px:
        return []
    side_w, side_h = min(crop_px, width), min(crop_px, height)
    columns, rows = math.ceil(width / crop_px), math.ceil(height / crop_px)
    xs = [round(i * (width - side_w) / (columns - 1)) for i in range(columns)] if columns > 1 else [0]
    ys = [round(j * (height - side_h) / (rows - 1)) for j in range(rows)] if rows > 1 else [0]
    return [Crop(x, y, side_w, side_h) for y in ys for x in xs]


def _overlap(a: Detection, b: Detection) -> tuple[float, float, float]:
    """Intersection, area of a, area of b."""
    ix = max(0.0, min(a.x2, b.x2) - max(a.x1, b.x1))
    iy = max(0.0, min(a.y2, b.y2) - max(a.y1, b.y1))
    return ix * iy, (a.x2 - a.x1) * (a.y2 - a.y1), (b.x2 - b.x1) * (b.y2 - b.y1)


def same_person(a: Detection, b: Detection) -> bool:
    inter, area_a, area_b = _overlap(a, b)
    if inter <= 0:
        return False
    iou = inter / (area_a + area_b - inter)
    return iou > SAME_IOU or inter / max(1e-9, min(area_a, area_b)) > SAME_INSIDE


def moved_person(kept: Detection, fresh: Detection) -> bool:
    inter, area_a, area_b = _overlap(kept, fresh)
    if inter > 0 and inter / (area_a + area_b - inter) > MOVED_IOU:
        return True
    (kx, ky), (fx, fy) = kept.bottom_centre, fresh.bottom_centre
    tall = max(kept.y2 - kept.y1, fresh.y2 - fresh.y1)
    return abs(kx - fx) < MOVED_NEAR * tall and abs(ky - fy) < MOVED_NEAR * tall


def merge_boxes(boxes: Sequence[Detection]) -> list[Detection]:
    """One box per person: the most confident of each group that ``same_person`` joins."""
    kept: list[Detection] = []
    for box in sorted(boxes, key=lambda b: -b.confidence):
        if not any(same_person(box, other) for other in kept):
            kept.append(box)
    return kept


@dataclass
class _CropState:
    planned_ms: int | None = None
    results_ms: int | None = None
    boxes: list[Detection] = field(default_factory=list)
    moved: bool = True


@dataclass
class RegionStats:
    crops_run: int = 0
    cold_crops: int = 0
    frames: int = 0


class RegionPlanner:
    """Which crops of one camera to look at on this frame, and the merged result. No I/O."""

    def __init__(self, policy: RegionPolicy) -> None:
        self.policy = policy
        self.crops: list[Crop] = []
        self.stats = RegionStats()
        self._size: tuple[int, int] | None = None
        self._states: dict[Crop, _CropState] = {}
        self._credit = 0.0

    def note_motion(self, mask: np.ndarray | None) -> None:
        """The motion mask of a frame (any size, covering the whole frame): crops with motion are due."""
        if self._size is None:
            return
        width, height = self._size
        for crop, state in self._states.items():
            if mask is None:
                state.moved = True
                continue
            rows, cols = mask.shape[:2]
            y1, y2 = crop.y * rows // height, math.ceil((crop.y + crop.height) * rows / height)
            x1, x2 = crop.x * cols // width, math.ceil((crop.x + crop.width) * cols / width)
            state.moved = state.moved or bool(mask[y1:y2, x1:x2].any())

    def plan(self, width: int, height: int, now_ms: int) -> list[Crop]:
        """The crops to run beside the whole frame now (empty for small frames)."""
        if self._size != (width, height):
            self._size = (width, height)
            self.crops = crop_grid(width, height, self.policy.crop_px)
            self._states = {crop: _CropState() for crop in self.crops}
            self._credit = 0.0
        self.stats.frames += 1
        cold = [crop for crop in self.crops if self._states[crop].planned_ms is None]
        if cold:
            self.stats.cold_crops += len(cold)
            chosen = cold
        else:
            budget = self.policy.crops_per_frame
            self._credit = min(self._credit + budget, max(1.0, budget))
            refresh_ms = self.policy.keep_s * 500
            due = [
                crop
                for crop, state in self._states.items()
                if state.moved or state.results_ms is None or now_ms - state.results_ms >= refresh_ms
            ]
            due.sort(key=lambda crop: self._states[crop].planned_ms or 0)
            chosen = due[: int(self._credit)]
            self._credit -= len(chosen)
        for crop in chosen:
            self._states[crop].planned_ms = now_ms
            self._states[crop].moved = False
        self.stats.crops_run += len(chosen)
        return chosen

    def record(self, crop: Crop, boxes: Sequence[Detection], now_ms: int) -> None:
        """What the model found in a crop (crop pixels)."""
        state = self._states.get(crop)
        if state is None or self._size is None:
            return  # the frame size changed since the crop was planned
        width, height = self._size
        state.results_ms = now_ms
        state.boxes = [b for b in (crop.to_frame(box, width, height) for box in boxes) if b is not None]

    def merge(self, whole: Sequence[Detection], now_ms: int) -> list[Detection]:
        """The whole frame's boxes with the crops' (fresh, or kept where nobody fresh is near)."""
        keep_ms = self.policy.keep_s * 1000
        fresh = list(whole)
        kept: list[Detection] = []
        for state in self._states.values():
            if state.results_ms is None or now_ms - state.results_ms > keep_ms:
                continue
            (fresh if state.results_ms == now_ms else kept).extend(state.boxes)
        kept = [box for box in kept if not any(moved_person(box, other) for other in fresh)]
        return merge_boxes(fresh + kept)


def detect_regions(detector: Detector, frame: np.ndarray, policy: RegionPolicy) -> list[Detection]:
    """One frame on its own (a preview, a test): the whole frame and every crop, merged."""
    height, width = frame.shape[:2]
    planner = RegionPlanner(policy)
    crops = planner.plan(width, height, 0)
    results = detector.detect_batch([frame, *(crop.cut(frame) for crop in crops)])
    for crop, boxes in zip(crops, results[1:], strict=True):
        planner.record(crop, boxes, 0)
    return planner.merge(results[0], 0)

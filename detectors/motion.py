"""Cheap motion detection that decides when the expensive detector must look.

Frames are reduced to a small blurred grey image and compared with a slowly updated background;
the fraction of changed pixels is the motion. A frame without motion is not sent to the
detector — but see ``detectors.pipeline`` for why occupied zones are re-checked anyway.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

WORK_WIDTH = 160


@dataclass(frozen=True)
class Motion:
    fraction: float
    """Share of the image that changed, 0..1."""
    mask: np.ndarray | None = None
    """Where it changed (``WORK_WIDTH`` wide); ``None`` on a first frame, which is all news."""

    @property
    def any(self) -> bool:
        return self.fraction > 0.0


def small_grey(frame: np.ndarray, width: int = WORK_WIDTH) -> np.ndarray:
    height = max(1, round(frame.shape[0] * width / frame.shape[1]))
    grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) if frame.ndim == 3 else frame
    return cv2.resize(grey, (width, height), interpolation=cv2.INTER_AREA)


class MotionDetector:
    def __init__(self, *, threshold: int = 25, min_fraction: float = 0.002, learn_rate: float = 0.05) -> None:
        self.threshold = threshold
        self.min_fraction = min_fraction
        self.learn_rate = learn_rate
        self._background: np.ndarray | None = None

    def update(self, frame: np.ndarray) -> Motion:
        grey = cv2.GaussianBlur(small_grey(frame), (5, 5), 0).astype(np.float32)
        if self._background is None or self._background.shape != grey.shape:
            self._background = grey
            return Motion(1.0)  # a first frame is news: let the detector look
        delta = cv2.absdiff(grey, self._background)
        mask = delta > self.threshold
        changed = float(np.count_nonzero(mask)) / delta.size
        cv2.accumulateWeighted(grey, self._background, self.learn_rate)
        if changed < self.min_fraction:
            return Motion(0.0, np.zeros_like(mask))
        return Motion(changed, mask)

"""What a person detector is to the rest of casewatch: boxes in pixels, and one typed interface.

Two detectors implement it: ONNX Runtime (``detectors/onnx_detector.py``, what an edge box runs,
no PyTorch) and Ultralytics (``detectors/ultralytics_detector.py``, ``.pt`` weights, needs the
``export`` extra). ``load_detector`` picks one by the weights file's suffix.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

PERSON_CLASS = 0
"""COCO class 0: the only class casewatch asks the model for."""


@dataclass(frozen=True)
class Detection:
    """A person box in pixels of the input frame."""

    x1: float
    y1: float
    x2: float
    y2: float
    confidence: float

    @property
    def bottom_centre(self) -> tuple[float, float]:
        return ((self.x1 + self.x2) / 2.0, self.y2)


class Detector(Protocol):
    """Persons in BGR frames. ``detect_batch`` lets one call serve several cameras."""

    def detect(self, frame: np.ndarray) -> list[Detection]: ...

    def detect_batch(self, frames: Sequence[np.ndarray]) -> list[list[Detection]]: ...


def load_detector(
    weights: Path, *, imgsz: int, confidence: float, device: str = "cpu", threads: int = 1
) -> Detector:
    """The detector for a weights file: ONNX Runtime for ``.onnx``, Ultralytics for ``.pt``."""
    if weights.suffix == ".onnx":
        from detectors.onnx_detector import OnnxPersonDetector

        return OnnxPersonDetector(weights, imgsz=imgsz, confidence=confidence, threads=threads)
    from detectors.ultralytics_detector import UltralyticsDetector

    return UltralyticsDetector(weights, imgsz=imgsz, confidence=confidence, device=device)

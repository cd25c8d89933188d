"""Persons in a frame, by Ultralytics YOLO (COCO class 0): the one place the model is called."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from foundation.errors import ModelError

PERSON_CLASS = 0


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


class PersonDetector:
    """Loads a ``.pt`` or ``.onnx`` model once; ``detect`` maps a BGR frame to person boxes."""

    def __init__(self, weights: Path, *, imgsz: int = 320, confidence: float = 0.4, device: str = "cpu"):
        os.environ.setdefault("YOLO_VERBOSE", "False")
        from ultralytics import YOLO

        if not weights.is_file():
            raise ModelError(f"model file {weights} does not exist")
        try:
            self._model: Any = YOLO(str(weights), task="detect")
        except Exception as exc:
            raise ModelError(f"cannot load {weights}: {exc}") from exc
        self.imgsz = imgsz
        self._batches = weights.suffix != ".onnx"  # exported models have a fixed batch of one
        self.confidence = confidence
        self.device = device

    def detect(self, frame: np.ndarray) -> list[Detection]:
        return self.detect_batch([frame])[0]

    def detect_batch(self, frames: Sequence[np.ndarray]) -> list[list[Detection]]:
        """Persons in each frame; a batch amortises per-call overhead across cameras."""
        if not frames:
            return []
        if not self._batches and len(frames) > 1:
            return [self.detect_batch([frame])[0] for frame in frames]
        results = self._model.predict(
            list(frames),
            imgsz=self.imgsz,
            conf=self.confidence,
            classes=[PERSON_CLASS],
            device=self.device,
            verbose=False,
        )
        out = []
        for result in results:
            xyxy = result.boxes.xyxy.cpu().numpy()
            conf = result.boxes.conf.cpu().numpy()
            out.append(
                [
                    Detection(float(b[0]), float(b[1]), float(b[2]), float(b[3]), float(c))
                    for b, c in zip(xyxy, conf, strict=True)
                ]
            )
        return out

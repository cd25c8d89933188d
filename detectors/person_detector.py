"""Persons in a frame, by Ultralytics YOLO (COCO class 0): the one place the model is called."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from protocol.errors import ModelError

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
        self.confidence = confidence
        self.device = device

    def detect(self, frame: np.ndarray) -> list[Detection]:
        results = self._model.predict(
            frame,
            imgsz=self.imgsz,
            conf=self.confidence,
            classes=[PERSON_CLASS],
            device=self.device,
            verbose=False,
        )
        boxes = results[0].boxes
        xyxy = boxes.xyxy.cpu().numpy()
        conf = boxes.conf.cpu().numpy()
        return [
            Detection(float(b[0]), float(b[1]), float(b[2]), float(b[3]), float(c))
            for b, c in zip(xyxy, conf, strict=True)
        ]

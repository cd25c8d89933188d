"""Persons in a frame by Ultralytics YOLO with ``.pt`` (or ``.onnx``) weights, through PyTorch.

Needs the ``export`` extra (``pip install "casewatch[export]"``): an edge box installed without it
runs the ONNX detector instead, and asking it for ``.pt`` weights says so rather than crashing.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from detectors.detection import PERSON_CLASS, Detection
from foundation.errors import ModelError


class UltralyticsDetector:
    """Loads a ``.pt`` or ``.onnx`` model once; ``detect`` maps a BGR frame to person boxes."""

    def __init__(self, weights: Path, *, imgsz: int = 320, confidence: float = 0.4, device: str = "cpu"):
        os.environ.setdefault("YOLO_VERBOSE", "False")
        try:
            from ultralytics import YOLO
        except ImportError as exc:
            raise ModelError(
                f'{weights.name}: .pt 模型需要 Ultralytics (`pip install "casewatch[export]"`); '
                "边缘盒请用 model.format: onnx (the .pt detector needs the export extra; edge boxes run ONNX)"
            ) from exc

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

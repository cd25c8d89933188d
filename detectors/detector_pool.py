"""One detector for every camera of the box, fed from one bounded slot per camera.

Each camera has a slot holding at most one frame waiting for the detector. A live camera that
submits while its slot is full replaces the waiting frame and the old one is counted as dropped:
the detector always works on the newest picture and lag never builds up. An offline review
(``block=True``) waits for the slot instead, so every frame is analysed. The detector thread
takes up to ``max_batch`` waiting frames, oldest first across cameras, and runs them as one batch.
A frame may come with crops of itself (region detection): they travel and are dropped together,
and the callback gets the whole frame's boxes first, then each crop's.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from detectors.detection import Detection, Detector

log = logging.getLogger(__name__)

Done = Callable[[list[list[Detection]]], None]
"""Boxes for each image submitted together, in order."""


@dataclass
class _Pending:
    images: Sequence[np.ndarray]
    submitted: float
    done: Done


@dataclass
class CameraCounters:
    submitted: int = 0
    dropped: int = 0
    detected: int = 0


@dataclass
class PoolStats:
    batches: int = 0
    frames: int = 0
    images: int = 0
    """Model runs: frames and their crops."""
    busy_s: float = 0.0
    errors: int = 0
    cameras: dict[str, CameraCounters] = field(default_factory=dict)

    @property
    def ms_per_frame(self) -> float:
        return 1000.0 * self.busy_s / self.frames if self.frames else 0.0


class DetectorPool:
    def __init__(self, detector: Detector, *, max_batch: int = 4) -> None:
        self.detector = detector
        self.max_batch = max_batch
        self.stats = PoolStats()
        self._slots: dict[str, _Pending] = {}
        self._cond = threading.Condition()
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="detector", daemon=True)

    def start(self) -> DetectorPool:
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        self._thread.join(timeout_s)

    def queue_depth(self) -> int:
        with self._cond:
            return len(self._slots)

    def submit(self, camera: str, images: Sequence[np.ndarray], done: Done, *, block: bool = False) -> None:
        """One camera's frame (and its crops, if any) for the detector."""
        with self._cond:
            counters = self.stats.cameras.setdefault(camera, CameraCounters())
            counters.submitted += 1
            if block:
                while camera in self._slots and not self._stop:
                    self._cond.wait(0.5)
            elif camera in self._slots:
                counters.dropped += 1
            self._slots[camera] = _Pending(images, time.monotonic(), done)
            self._cond.notify_all()

    def _take(self) -> list[tuple[str, _Pending]]:
        with self._cond:
            while not self._slots and not self._stop:
                self._cond.wait()
            if self._stop:
                return []
            oldest = sorted(self._slots.items(), key=lambda item: item[1].submitted)[: self.max_batch]
            for camera, _ in oldest:
                del self._slots[camera]
            self._cond.notify_all()
            return oldest

    def _run(self) -> None:
        while True:
            batch = self._take()
            if not batch:
                return
            started = time.perf_counter()
            images = [image for _, pending in batch for image in pending.images]
            try:
                results = self.detector.detect_batch(images)
            except Exception:  # a detector failure must not stop every camera
                log.exception("detector failed on a batch of %d", len(batch))
                self.stats.errors += 1
                continue
            self.stats.busy_s += time.perf_counter() - started
            self.stats.batches += 1
            self.stats.frames += len(batch)
            self.stats.images += len(images)
            start = 0
            for camera, pending in batch:
                self.stats.cameras[camera].detected += 1
                own = results[start : start + len(pending.images)]
                start += len(pending.images)
                try:
                    pending.done(own)
                except Exception:
                    log.exception("camera %s: handling detections failed", camera)

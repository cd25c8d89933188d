"""One thread per camera: open, read, sample to the analysis rate, reconnect with backoff.

A VideoCapture never reconnects by itself, so the reader does: after a failure it waits 1 s,
then 2, 4, … up to 30 s between attempts, and resets to 1 s once frames flow again. Frames are
handed on at the camera's analysis rate (``fps``), the rest are skipped without decoding colour.
A video file is paced to its own rate (``pace``) or read as fast as the consumer takes frames.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from detectors.config import Camera, FileSource
from detectors.sources import CameraError, Capture, open_capture, redact, source_url
from protocol.clock import Clock

log = logging.getLogger(__name__)

FrameSink = Callable[[str, np.ndarray, int], None]
"""(camera id, BGR frame, event time ms) -> None; may block for unpaced files."""
ErrorSink = Callable[[str, str], None]


@dataclass
class Backoff:
    first_s: float = 1.0
    max_s: float = 30.0
    current_s: float = 0.0

    def next(self) -> float:
        self.current_s = self.first_s if self.current_s == 0 else min(self.max_s, self.current_s * 2)
        return self.current_s

    def reset(self) -> None:
        self.current_s = 0.0


class CameraReader:
    def __init__(
        self,
        camera: Camera,
        on_frame: FrameSink,
        *,
        clock: Clock,
        on_error: ErrorSink | None = None,
        backoff: Backoff | None = None,
    ) -> None:
        self.camera = camera
        self.on_frame = on_frame
        self.on_error = on_error or (lambda cam, msg: None)
        self.clock = clock
        self.backoff = backoff or Backoff()
        self.frames_read = 0
        self.frames_delivered = 0
        self.reconnects = 0
        self.last_error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.finished = threading.Event()
        """Set when a non-looping file has been read to its end."""

    def start(self) -> CameraReader:
        self._thread = threading.Thread(target=self._run, name=f"camera-{self.camera.id}", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    def _fail(self, message: str) -> None:
        self.last_error = message
        log.warning("camera %s: %s", self.camera.id, message)
        self.on_error(self.camera.id, message)

    def _run(self) -> None:
        source = self.camera.source
        while not self._stop.is_set():
            try:
                opened = open_capture(source)
            except CameraError as exc:
                self._fail(str(exc))
                self._stop.wait(self.backoff.next())
                self.reconnects += 1
                continue
            except Exception as exc:  # OpenCV raises cv2.error for odd URLs; never kill the thread
                self._fail(f"cannot open {redact(source_url(source))}: {exc}")
                self._stop.wait(self.backoff.next())
                self.reconnects += 1
                continue
            try:
                ended = self._read(opened.capture, opened.fps, opened.live)
            except Exception as exc:
                self._fail(f"reading {redact(source_url(source))} failed: {exc}")
                ended = False
            finally:
                opened.capture.release()
            if ended and isinstance(source, FileSource):
                if not source.loop:
                    self.finished.set()
                    return
                continue  # loop the file at once
            if not self._stop.is_set():
                self._stop.wait(self.backoff.next())
                self.reconnects += 1

    def _read(self, capture: Capture, source_fps: float, live: bool) -> bool:
        """Read until failure (False) or the end of a file (True)."""
        source = self.camera.source
        paced = not live and isinstance(source, FileSource) and source.pace
        media = not live and not paced
        step_s = 1.0 / self.camera.fps
        started_wall = time.monotonic()
        started_ms = self.clock.now_ms()
        next_due = 0.0
        first = True
        grabbed = 0
        while not self._stop.is_set():
            if not capture.grab():
                if not live:
                    return True
                self._fail(f"no frame from {redact(source_url(source))} (stream ended or read timeout)")
                return False
            self.frames_read += 1
            grabbed += 1
            if first:
                self.backoff.reset()
                first = False
            position_s = (
                capture.get(cv2.CAP_PROP_POS_MSEC) / 1000.0 if not live else time.monotonic() - started_wall
            )
            if not live and source_fps > 0 and position_s <= 0:
                position_s = (grabbed - 1) / source_fps  # some containers report 0 for the first frame
            if position_s + 1e-6 < next_due:
                continue  # skipped: not due at the analysis rate
            next_due = max(next_due + step_s, position_s)
            ok, frame = capture.retrieve()
            if not ok or frame is None:
                continue
            if paced:
                delay = position_s - (time.monotonic() - started_wall)
                if delay > 0 and self._stop.wait(delay):
                    return False
            ts = started_ms + int(position_s * 1000) if media else self.clock.now_ms()
            self.frames_delivered += 1
            self.on_frame(self.camera.id, frame, ts)
        return False

"""Where frames come from: video files, RTSP cameras, USB cameras — opened through OpenCV.

``open_capture`` turns a camera's configured source into an opened ``cv2.VideoCapture`` or raises
``CameraError`` with a message an integrator can act on. RTSP always goes over TCP (UDP loses
packets on busy intranets and smears frames) with open and read timeouts, because a
VideoCapture never reconnects by itself and, without timeouts, can block for minutes.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass

import cv2
import numpy as np

from detectors.config import (
    CameraSource,
    DahuaSource,
    FileSource,
    HikvisionSource,
    RtspSource,
    SceneSource,
    UsbSource,
)
from protocol.errors import CasewatchError

os.environ.setdefault("OPENCV_FFMPEG_CAPTURE_OPTIONS", "rtsp_transport;tcp")
os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")


class CameraError(CasewatchError):
    """A camera source cannot be opened or read."""


@dataclass(frozen=True)
class Opened:
    capture: cv2.VideoCapture
    fps: float
    """The source's own frame rate (0 when it does not say)."""
    live: bool
    """Live cameras are read as they come; files may be paced or read as fast as possible."""


def redact(url: str) -> str:
    """The URL with any password replaced, for logs and events."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)


def source_url(source: CameraSource) -> str:
    if isinstance(source, FileSource):
        return str(source.path)
    if isinstance(source, RtspSource):
        return source.url
    if isinstance(source, HikvisionSource | DahuaSource):
        return source.url()
    if isinstance(source, SceneSource):
        return f"scene:{source.scenario}#{source.camera}"
    return f"usb:{source.index}"


class SceneCapture:
    """The part of ``cv2.VideoCapture`` the reader uses, drawing a scenario's scene live.

    Time is the wall clock since the scenario's epoch, so an agent restarted in the middle of a
    scenario sees the room as it is now, not from the beginning."""

    def __init__(self, source: SceneSource) -> None:
        import yaml

        from detectors.scene import render, scene_from_doc

        try:
            doc = yaml.safe_load(source.scenario.read_text(encoding="utf-8")) or {}
            cameras = doc.get("cameras") or {}
            if source.camera not in cameras:
                raise CameraError(f"scenario {source.scenario} has no camera {source.camera}")
            self.scene = scene_from_doc(cameras[source.camera])
        except (OSError, yaml.YAMLError, ValueError, AttributeError) as exc:
            raise CameraError(f"scene {source.scenario}#{source.camera}: {exc}") from None
        self._render = render
        self.epoch_file = source.epoch_file
        self.epoch_s = source.epoch_ms / 1000 if source.epoch_ms is not None else time.time()
        self.step_s = 1.0 / source.rate
        self._next = time.monotonic()

    def _t(self) -> float:
        """Seconds since t=0; with an epoch file, 0 until the file says when t=0 was."""
        if self.epoch_file is not None:
            try:
                self.epoch_s = int(self.epoch_file.read_text().strip()) / 1000
            except (OSError, ValueError):
                return 0.0
        return max(0.0, time.time() - self.epoch_s)

    def isOpened(self) -> bool:
        return True

    def get(self, _prop: int) -> float:
        return 1.0 / self.step_s if _prop == cv2.CAP_PROP_FPS else 0.0

    def grab(self) -> bool:
        delay = self._next - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        self._next = max(self._next + self.step_s, time.monotonic() - self.step_s)
        return True

    def retrieve(self) -> tuple[bool, np.ndarray]:
        return True, self._render(self.scene, self._t())

    def release(self) -> None:
        pass


def open_capture(source: CameraSource) -> Opened:
    if isinstance(source, SceneSource):
        scene = SceneCapture(source)
        return Opened(scene, scene.get(cv2.CAP_PROP_FPS), True)  # type: ignore[arg-type]
    if isinstance(source, FileSource):
        if not source.path.is_file():
            raise CameraError(f"video file {source.path} does not exist")
        capture = cv2.VideoCapture(str(source.path), cv2.CAP_FFMPEG)
        live = False
    elif isinstance(source, UsbSource):
        capture = cv2.VideoCapture(source.index, cv2.CAP_V4L2)
        live = True
    else:
        assert isinstance(source, RtspSource | HikvisionSource | DahuaSource)
        url = source.url if isinstance(source, RtspSource) else source.url()
        params = [
            cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, int(source.open_timeout_s * 1000),
            cv2.CAP_PROP_READ_TIMEOUT_MSEC, int(source.read_timeout_s * 1000),
        ]  # fmt: skip
        capture = cv2.VideoCapture(url, cv2.CAP_FFMPEG, params)
        live = True
    if not capture.isOpened():
        capture.release()
        raise CameraError(f"cannot open {redact(source_url(source))}")
    fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
    return Opened(capture, fps if 0 < fps < 1000 else 0.0, live)

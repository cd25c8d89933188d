"""Where frames come from: video files, RTSP cameras, USB cameras — opened through OpenCV.

``open_capture`` turns a camera's configured source into an opened ``cv2.VideoCapture`` or raises
``CameraError`` with a message an integrator can act on. RTSP always goes over TCP (UDP loses
packets on busy intranets and smears frames) with open and read timeouts, because a
VideoCapture never reconnects by itself and, without timeouts, can block for minutes.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

import cv2

from agent.config import CameraSource, DahuaSource, FileSource, HikvisionSource, RtspSource, UsbSource
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
    return f"usb:{source.index}"


def open_capture(source: CameraSource) -> Opened:
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

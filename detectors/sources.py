"""Where frames come from: video files, RTSP cameras, USB cameras through OpenCV, or a plugin.

``open_capture`` turns a camera's configured source into an opened ``cv2.VideoCapture`` or raises
``CameraError`` with a message an integrator can act on. RTSP always goes over TCP (UDP loses
packets on busy intranets and smears frames) with open and read timeouts, because a
VideoCapture never reconnects by itself and, without timeouts, can block for minutes.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import cv2
import numpy as np
from pydantic import BaseModel, ValidationError

from detectors.config import (
    CameraSource,
    DahuaSource,
    FileSource,
    HikvisionSource,
    PluginSource,
    RtspSource,
    UsbSource,
)
from protocol.errors import CasewatchError

os.environ.setdefault("OPENCV_FFMPEG_CAPTURE_OPTIONS", "rtsp_transport;tcp")
os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")


class CameraError(CasewatchError):
    """A camera source cannot be opened or read."""


@dataclass(frozen=True)
class Opened:
    capture: Capture
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
    if isinstance(source, PluginSource):
        try:
            return source_plugin(source.name).describe(plugin_options(source))
        except CameraError:
            return f"plugin:{source.name}"
    return f"usb:{source.index}"


class Capture(Protocol):
    """The part of ``cv2.VideoCapture`` the reader uses; a source plugin's captures provide it."""

    def isOpened(self) -> bool: ...

    def get(self, prop: int) -> float: ...

    def grab(self) -> bool: ...

    def retrieve(self) -> tuple[bool, np.ndarray]: ...

    def release(self) -> None: ...


@dataclass(frozen=True)
class SourcePlugin:
    """A camera source outside OpenCV's: its options' model and how to open one."""

    options: type[BaseModel]
    open: Callable[[Any], Capture]
    """Opens a capture from validated options; raises ``CameraError`` when it cannot."""
    describe: Callable[[Any], str]
    """A short text naming the source in logs and events, like a URL."""


_PLUGINS: dict[str, SourcePlugin] = {}


def register_source_plugin(name: str, plugin: SourcePlugin) -> None:
    """Make ``source: {type: plugin, name: name}`` usable in this process."""
    if _PLUGINS.get(name, plugin) is not plugin:
        raise ValueError(f"camera source plugin {name!r} is registered twice")
    _PLUGINS[name] = plugin


def known_source_plugins() -> list[str]:
    return sorted(_PLUGINS)


def source_plugin(name: str) -> SourcePlugin:
    try:
        return _PLUGINS[name]
    except KeyError:
        known = ", ".join(known_source_plugins()) or "none registered in this process"
        raise CameraError(f"unknown camera source plugin {name!r} (known: {known})") from None


def plugin_options(source: PluginSource) -> Any:
    """The plugin's options, validated by its own model."""
    plugin = source_plugin(source.name)
    try:
        context = {"base_dir": source.base_dir} if source.base_dir is not None else None
        return plugin.options.model_validate(source.options, context=context)
    except ValidationError as exc:
        raise CameraError(f"camera source plugin {source.name}: {exc}") from None


def open_capture(source: CameraSource) -> Opened:
    if isinstance(source, PluginSource):
        drawn = source_plugin(source.name).open(plugin_options(source))
        return Opened(drawn, drawn.get(cv2.CAP_PROP_FPS), True)
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

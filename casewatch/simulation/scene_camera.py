"""The demo's camera: a drawn room whose people move as a scenario file says, as a camera source
plugin (``source: {type: plugin, name: scene, options: {...}}``). The command line registers it
(``register``) before it loads an agent's file; nothing of the product knows it exists."""

from __future__ import annotations

import importlib.util
import time

import cv2
import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field

from casewatch.simulation.scene import render, scene_from_doc
from detectors.sources import CameraError, SourcePlugin, known_source_plugins, register_source_plugin
from foundation.settings import ConfigPath

PLUGIN = "scene"


class SceneOptions(BaseModel):
    """``options:`` of a drawn camera (relative paths: relative to the agent's config file)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    scenario: ConfigPath = Field(..., description="A scenario file (docs/demo.md) with `cameras:`.")
    camera: str = Field(..., min_length=1, description="Which of the scenario's cameras this is.")
    epoch_ms: int | None = Field(
        None, ge=0, description="Wall-clock ms of the scenario's t=0 (default: when first opened)."
    )
    epoch_file: ConfigPath | None = Field(
        None, description="A file holding t=0 in ms, written when the scenario starts (the demo's)."
    )
    rate: float = Field(10.0, gt=0, le=30, description="Frames per second drawn.")


class SceneCapture:
    """The part of ``cv2.VideoCapture`` the reader uses, drawing a scenario's scene live.

    Time is the wall clock since the scenario's epoch, so an agent restarted in the middle of a
    scenario sees the room as it is now, not from the beginning."""

    def __init__(self, source: SceneOptions) -> None:
        if importlib.util.find_spec("ultralytics") is None:
            raise CameraError(
                "the scene draws people cut from Ultralytics' sample photos: "
                'pip install "casewatch[export]" (this box has no Ultralytics)'
            )
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


def _describe(options: SceneOptions) -> str:
    return f"scene:{options.scenario}#{options.camera}"


def register() -> None:
    """Make the drawn camera available to agents started by this process (idempotent)."""
    if PLUGIN not in known_source_plugins():
        plugin = SourcePlugin(options=SceneOptions, open=SceneCapture, describe=_describe)
        register_source_plugin(PLUGIN, plugin)

"""The camera reader samples to the analysis rate, loops files, and backs off on failures."""

from __future__ import annotations

import itertools
import threading
from pathlib import Path

import pytest

from casewatch.simulation.scene import still_room_scene, write_video
from detectors.capture import Backoff, CameraReader
from detectors.config import Camera
from protocol.clock import ManualClock


def test_backoff_doubles_to_thirty_seconds_and_resets() -> None:
    backoff = Backoff()
    assert [backoff.next() for _ in range(7)] == [1, 2, 4, 8, 16, 30, 30]
    backoff.reset()
    assert backoff.next() == 1


def test_looping_file_is_sampled_to_the_analysis_rate_on_every_pass(tmp_path: Path) -> None:
    video = write_video(still_room_scene(2.0), tmp_path / "two-seconds.mp4", fps=10, width=320, height=180)
    camera = Camera.model_validate(
        {
            "id": "c",
            "room": "r",
            "fps": 5,
            "source": {"type": "file", "path": str(video), "loop": True, "pace": False},
        }
    )
    stamps: list[int] = []
    enough = threading.Event()

    def on_frame(camera_id: str, frame, ts: int) -> None:
        stamps.append(ts)
        if len(stamps) >= 30:
            enough.set()

    reader = CameraReader(camera, on_frame, clock=ManualClock(0)).start()
    assert enough.wait(30)
    reader.stop()
    assert reader.frames_delivered / reader.frames_read == pytest.approx(0.5, abs=0.05)
    first_pass = stamps[:10]
    assert [b - a for a, b in itertools.pairwise(first_pass)] == [200] * 9  # media time, 5 fps

"""``bench/vision.py`` (c) reports what the detector did, not only frames read (issue 18 defect 5):
a still room with motion gating on sends few frames to the model, the street sends most, and
region detection adds crops — each trial says so in its JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

STREET = REPO.parent / "shared" / "media" / "street-1080p.mp4"
pytestmark = [pytest.mark.slow, pytest.mark.model]


def trial(clip: Path, model: Path, cameras: int, detection: str = "regions") -> dict[str, object]:
    command = [
        sys.executable, str(REPO / "bench" / "vision.py"), "--trial", str(cameras), "--clip", str(clip),
        "--seconds", "4", "--model", str(model), "--detection", detection,
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_a_still_room_reports_how_few_frames_reached_the_model(tmp_path: Path, onnx_weights: Path) -> None:
    from casewatch.simulation.scene import still_room_scene, write_video

    clip = write_video(still_room_scene(12.0), tmp_path / "still.mp4", fps=15)
    result = trial(clip, onnx_weights, 2)
    assert float(result["min_fps"]) >= 4.0  # type: ignore[arg-type]
    # frames read at 5 fps per camera, but the motion gate lets only the rechecks through
    assert 0 < float(result["detector_share"]) < 0.5, result  # type: ignore[arg-type]
    # 1280x720 has 2 x 2 crops of 640; after the first frame (start-up) at most 0.25 per detection
    assert 1.0 <= float(result["model_runs_per_detection"]) <= 1.25, result  # type: ignore[arg-type]


@pytest.mark.skipif(not STREET.is_file(), reason="../shared/media absent")
def test_the_moving_street_sends_most_frames_and_their_crops_to_the_model(onnx_weights: Path) -> None:
    result = trial(STREET, onnx_weights, 1)
    assert float(result["detector_share"]) > 0.8, result  # type: ignore[arg-type]
    runs = float(result["model_runs_per_detection"])  # type: ignore[arg-type]
    assert 1.2 <= runs <= 1.6, result  # a 1080p frame plus 0.25 crops (and the first frame's 6)
    whole = trial(STREET, onnx_weights, 1, "full")
    assert whole["model_runs_per_detection"] == 1.0

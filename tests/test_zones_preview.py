"""``casewatch zones preview``: the real command, the real model, one frame of a file camera with
its zones and counts drawn — and a clear failure for an unknown camera or a frame past the end."""

from __future__ import annotations

import subprocess
from pathlib import Path

import cv2
import pytest

from casewatch.simulation.scene import INTERROGATION_ZONES, interrogation_scene, write_video
from tests.agent_process import CASEWATCH, agent_config
from tests.conftest import REPO

pytestmark = pytest.mark.model


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CASEWATCH, *args], capture_output=True, text=True, timeout=120, cwd=REPO, check=False
    )


def test_preview_draws_the_zones_and_counts_one_frame(tmp_path: Path, onnx_weights: Path) -> None:
    video = write_video(interrogation_scene(6.0), tmp_path / "room.mp4", fps=5)
    zones = [
        {"id": z.id, "role": z.role, "polygon": [list(p) for p in z.polygon]} for z in INTERROGATION_ZONES
    ]
    config = agent_config(
        tmp_path, 1883, key="k" * 32,
        cameras=[{"id": "cam-int-1", "room": "int-1", "zones": zones,
                  "source": {"type": "file", "path": str(video), "loop": False}}],
    )  # fmt: skip
    out = tmp_path / "zones.png"
    done = run(
        "zones",
        "preview",
        "--config",
        str(config),
        "--camera",
        "cam-int-1",
        "--at",
        "2",
        "--output",
        str(out),
    )
    assert done.returncode == 0, done.stderr
    assert "officers: 2" in done.stdout and "detainee-seat: 1" in done.stdout, done.stdout
    picture = cv2.imread(str(out))
    assert picture is not None and picture.shape[:2] == (720, 1280)
    missing = run("zones", "preview", "--config", str(config), "--camera", "nope", "--output", str(out))
    assert missing.returncode == 2 and "cam-int-1" in missing.stderr
    late = run("zones", "preview", "--config", str(config), "--camera", "cam-int-1", "--at", "99",
               "--output", str(out))  # fmt: skip
    assert late.returncode == 1 and "no frame at 99 s" in late.stderr

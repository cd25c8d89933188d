"""`casewatch demo`, the README's first command, runs to its end on this machine."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO


def test_demo_on_the_embedded_broker(yolo_weights: Path) -> None:
    done = subprocess.run(
        [str(Path(sys.executable).parent / "casewatch"), "demo"],
        capture_output=True, text=True, timeout=300, cwd=REPO, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["published"] == summary["verified"] == 4  # two zones × two photos
    assert summary["rejected_forged"] is True
    assert "bus.jpg: 4 人" in done.stdout and "zidane.jpg: 2 人" in done.stdout


def test_demo_on_the_test_broker(mqtt_broker, yolo_weights: Path) -> None:
    from casewatch.demo import run_demo

    lines: list[str] = []
    summary = run_demo(broker=f"{mqtt_broker.host}:{mqtt_broker.port}", echo=lines.append)
    assert summary["verified"] == 4 and summary["rejected_forged"]
    assert any("拒收伪造事件" in line and "signature" in line for line in lines)

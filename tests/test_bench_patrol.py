"""``bench/patrol_wall.py`` runs end to end on a small bureau (the full 230-camera, 5-minute run is
the benchmark's, docs/benchmarks.md): pictures published by simulated agents reach the wall's
tiles, the wall fetches each picture once (not every tile every second), and the figures come out
as the last line's JSON. Not a timed test: targets are checked by the benchmark, on a quiet box."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.brokers import mosquitto_binary
from tests.conftest import REPO

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(mosquitto_binary() is None, reason="needs Debian's mosquitto (.ci/run installs it)"),
]


def test_the_patrol_wall_benchmark_measures_a_small_bureau() -> None:
    command = [
        sys.executable, str(REPO / "bench" / "patrol_wall.py"), "--cameras", "40", "--sites", "5",
        "--seconds", "25", "--idle", "3", "--warm", "8",
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=240, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["cameras"] == 40 and result["latency_samples"] > 5, result
    assert 0 < result["latency_p50_ms"] <= result["latency_p95_ms"], result
    assert result["heap_start_mb"] > 0 and result["nodes_end"] > 0
    # 40 cameras at one picture each 10 s: the tiles on screen change ~3.6 times a second; a wall
    # refetching every tile on every redraw would ask for 36 a second
    assert result["snapshot_requests_per_s"] < 12, result

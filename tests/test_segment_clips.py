"""Evidence clips cut from the recording (agent/segment_clips.py): the segments overlapping a
condition's window joined without re-encoding into an H.264 MP4 a browser plays (moov first),
made once the last segment has closed; none while the recording is missing."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from agent.segment_clips import GIVE_UP_MS, ClipJob, SegmentClips
from detectors.observations import ClipObservation
from protocol.clock import ManualClock
from tests.media_servers import write_segments

T0_S = 1_796_313_600
CLIP = "019b7683-1c80-7a3e-9c4d-5f6a7b8c9d0e"


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Five 2-s H.264 segments as the recorder names them, made by ffmpeg from a test pattern."""
    assert shutil.which("ffmpeg"), "Debian's ffmpeg is missing: .ci/run installs it"
    root = tmp_path_factory.mktemp("rec")
    parts = write_segments(root / "work", seconds=10, segment_s=2)
    camera = root / "cam-1"
    camera.mkdir()
    for n, part in enumerate(parts):
        start = T0_S + 2 * n
        target = camera / f"{start}.mp4"
        part.rename(target)
        os.utime(target, (start + 1.9, start + 1.9))
    return root


def probe(path: Path) -> dict[str, str]:
    done = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_name:format=duration",
                           "-of", "json", str(path)], capture_output=True, text=True, check=True)  # fmt: skip
    found = json.loads(done.stdout)
    return {"codec": found["streams"][0]["codec_name"], "duration": found["format"]["duration"]}


def test_a_clip_is_the_segments_of_its_window_joined(recorded: Path, tmp_path: Path) -> None:
    made: list[ClipObservation] = []
    clock = ManualClock(T0_S * 1000)
    clips = SegmentClips(recorded, tmp_path, segment_s=2, clock=clock, done=made.append)
    window = ClipJob(CLIP, "cam-1", "int-1", None, T0_S * 1000 + 3_000, T0_S * 1000 + 5_000)
    clips.request(window)
    assert clips.protected() == [(window.start, window.end)]
    clock.set(window.end + 1_000)
    assert clips.poll() == 0 and not made  # the segment holding the end may still be written
    clock.set(window.end + 8_000)
    assert clips.poll() == 1
    (clip,) = made
    assert clip.path == f"clips/cam-1/{CLIP}.mp4" and clip.room == "int-1"
    assert (clip.start_ms, clip.end_ms) == (T0_S * 1000 + 2_000, T0_S * 1000 + 5_900)  # segments 2 and 3
    body = (tmp_path / clip.path).read_bytes()
    assert clip.sha256 == hashlib.sha256(body).hexdigest() and clip.size_bytes == len(body)
    found = probe(tmp_path / clip.path)
    assert found["codec"] == "h264" and abs(float(found["duration"]) - 4.0) < 0.3
    assert body.find(b"moov") < body.find(b"mdat")  # faststart: a browser can play while loading
    assert clips.protected() == [] and not list(tmp_path.rglob(".*"))  # no partial file left


def test_a_window_nobody_recorded_is_retried_then_given_up(tmp_path: Path) -> None:
    made: list[ClipObservation] = []
    clock = ManualClock(T0_S * 1000)
    clips = SegmentClips(tmp_path / "none", tmp_path, segment_s=2, clock=clock, done=made.append)
    clips.request(ClipJob(CLIP, "cam-1", "int-1", None, T0_S * 1000, T0_S * 1000 + 2_000))
    clock.set(T0_S * 1000 + 60_000)
    clips.poll()
    assert clips.protected() and clips.counters["clips_failed"] == 0  # the recorder may catch up
    clock.set(T0_S * 1000 + 2_000 + GIVE_UP_MS + 1)
    clips.poll()
    assert not clips.protected() and clips.counters["clips_failed"] == 1 and not made

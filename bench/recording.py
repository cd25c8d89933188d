"""Continuous recording's cost at the edge: many cameras copied into segments by ffmpeg.

A real GStreamer RTSP server (Debian's python3-gi, tests/rtsp_server.py) serves one endless 1080p
H.264 stream at 25 fps (a moving test pattern encoded by x264 at 2 Mbit/s, a camera's usual
rate; encoded once, shared by every client); ``--cameras`` recorders (agent/recording.py,
the agent's own code) each run an ffmpeg that copies it into segments for ``--seconds``, as that
many cameras would be recorded on one box. The RTSP server's own CPU is the camera's, not the
recorder's: it is reported apart.

Figures: ``cpu_per_camera_pct`` — all recorders' ffmpeg CPU (``/proc``, children included) over
the window, per camera, in % of one core (target, issue 21: ≤ 2 %); ``segments`` written and
``segments_lost`` — holes longer than 3 s between one camera's consecutive segments, and gaps the
recorders reported (target: 0); ``server_cpu_pct``; ``mb_per_camera_hour`` from the bytes written.
``--beside-detector N``: the same while the agent's vision service analyses N live-paced 720p
cameras at 5 fps with the real YOLOv8n (bench/vision.py's camera trial, in its own process, as on
an edge box): the trial runs once alone first, then beside the recording, and both are printed
(``detector``: dropped frames, slowest camera's fps, p95 latency) — the recording's segments lost
are counted as before. The simulated camera's own encoding shares this box's CPU (a real camera
encodes on its own chip): its figure is printed apart.
Usage: python bench/recording.py [--cameras 32] [--seconds 60] [--segment 10] [--beside-detector 8]
Last line: {"cameras": …, "cpu_per_camera_pct": …, "segments_lost": …, …}
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from agent.recording import (  # noqa: E402
    CameraRecorder,
    RecorderSettings,
    listing,
)
from agent.segments import holes, segments  # noqa: E402
from detectors.config import Camera  # noqa: E402
from protocol.data import RecordingGap  # noqa: E402
from tests.media_servers import RtspServer  # noqa: E402


def cpu_seconds(pid: int) -> float:
    """The process's CPU, its reaped children's included (seconds)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(v) for v in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cameras", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--segment", type=int, default=10)
    parser.add_argument("--beside-detector", type=int, default=0, help="vision cameras analysed meanwhile")
    args = parser.parse_args()
    detector: dict[str, object] = {}
    with tempfile.TemporaryDirectory(prefix="cw-rec-bench-") as tmp:
        work = Path(tmp)
        if args.beside_detector:  # the detector alone first: the baseline
            detector["alone"] = finish(vision_trial(args, work))
        server = RtspServer(work, "pattern:1920x1080@25").start()
        gaps: list[RecordingGap] = []
        settings = RecorderSettings(segment_s=args.segment, stall_s=30)
        recorders = [
            CameraRecorder(
                Camera.model_validate(
                    {"id": f"cam-{n:02d}", "room": "r", "source": {"type": "rtsp", "url": server.url}}
                ),
                work / "rec" / f"cam-{n:02d}", settings, lambda _c, gap: gaps.append(gap),
            )
            for n in range(args.cameras)
        ]  # fmt: skip
        try:
            for recorder in recorders:
                recorder.start()
            time.sleep(max(5.0, args.segment * 1.5))  # every ffmpeg connected and writing
            pids = [r._proc.pid for r in recorders if r._proc is not None]
            server_pid = server._proc.pid if server._proc else 0
            before = sum(cpu_seconds(p) for p in pids)
            server_before, t0 = cpu_seconds(server_pid), time.monotonic()
            start_ms = int(time.time() * 1000)
            beside = vision_trial(args, work) if args.beside_detector else None
            time.sleep(args.seconds)
            if beside is not None:
                detector["beside"] = finish(beside)
            elapsed = time.monotonic() - t0
            used = sum(cpu_seconds(p) for p in pids) - before
            server_used = cpu_seconds(server_pid) - server_before
            end_ms = int(time.time() * 1000)
        finally:
            for recorder in recorders:
                recorder.stop()
            server.stop()
        written, lost, size = 0, 0, 0
        for recorder in recorders:
            found = segments(recorder.camera.id, listing(recorder.folder))
            inside = [s for s in found if s.end_ms > start_ms and s.start_ms < end_ms]
            written += len(inside)
            size += sum(s.size for s in inside)
            if inside:
                lost += len(holes(inside, inside[0].start_ms, inside[-1].end_ms, slack_ms=3_000))
    result = {
        "cameras": args.cameras, "seconds": args.seconds, "source": "1080p25-2mbit",
        "cpu_per_camera_pct": round(100 * used / elapsed / args.cameras, 2),
        "cpu_all_recorders_pct": round(100 * used / elapsed, 1),
        "server_cpu_pct": round(100 * server_used / elapsed, 1),
        "segments": written, "segments_lost": lost + len(gaps), "gaps_reported": len(gaps),
        "mb_per_camera_hour": round(size / 1e6 / args.cameras / (elapsed / 3600), 1),
    }  # fmt: skip
    if detector:
        result["detector"] = {"cameras": args.beside_detector, **detector}
        alone, side = detector["alone"], detector["beside"]
        print(f"detector, {args.beside_detector} cameras: alone {alone}; beside recording {side}")
    print(
        f"{args.cameras} cameras recorded for {args.seconds:g} s ({result['source']}): "
        f"{result['cpu_per_camera_pct']} % of a core per camera, {written} segments, "
        f"{result['segments_lost']} lost; the RTSP server (the camera) {result['server_cpu_pct']} %"
    )
    print(json.dumps(result))


def vision_trial(args: argparse.Namespace, work: Path) -> subprocess.Popen[str]:
    """bench/vision.py's camera trial in its own process, for ``--seconds`` (it warms up 3 s)."""
    from casewatch.simulation.scene import still_room_scene, write_video
    from detectors.models import ModelStore

    clip = work / "still-720p.mp4"
    if not clip.is_file():
        write_video(still_room_scene(20.0), clip, fps=15)
    model = ModelStore().export_onnx("yolov8n", imgsz=320)
    command = [sys.executable, str(REPO / "bench" / "vision.py"), "--trial", str(args.beside_detector),
               "--clip", str(clip), "--seconds", str(args.seconds - 3), "--model", str(model)]  # fmt: skip
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen[str]) -> dict[str, object]:
    out, err = proc.communicate(timeout=900)
    if proc.returncode != 0:
        raise RuntimeError(err[-2000:])
    found: dict[str, object] = json.loads(out.strip().splitlines()[-1])
    return {k: found[k] for k in ("dropped", "min_fps", "p95_latency_ms", "detections_per_s")}


if __name__ == "__main__":
    main()

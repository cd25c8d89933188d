"""Vision benchmark on this machine's CPU.

(a) ``raw_ms``: the detector alone, ms per frame, at the configured size;
(b) ``pipeline_ms``: one camera read as fast as possible through the whole vision service
    (decode, health, motion, ring buffer, shared detector, tracking, zones, evidence), with
    gating off so every frame is detected and the whole frame only (one model run per frame, as
    in (a)): ``efficiency = raw_ms / pipeline_ms``;
(c) ``cameras_5fps``: how many simultaneous 720p cameras (15 fps sources, paced like live
    streams) of a still room with one seated person it sustains at 5 fps analysis with no dropped
    frames, every camera ≥ 4.75 fps and p95 frame-to-observation latency < 500 ms — with
    ``detections_per_s`` and ``detector_share`` (analysed frames that reached the model: the motion
    gate skips most of a still room) and ``model_runs_per_detection`` (the whole frame plus the
    crops of region detection, ``--detection regions``, the default); ``cameras_5fps_moving``: the
    same on the street footage on every camera, where the model must run on most frames;
(d) ``rss_mb_8cams``: peak resident memory of a process running 8 such cameras.

Input for (a)/(b): ../shared/media/street-1080p.mp4 when present (real footage), else a
synthetic room video; the output says which. (c)/(d) always use the synthetic still room.
Trials run in subprocesses so memory and threads of one do not colour the next.
Usage: python bench/vision.py [--model PATH] [--imgsz 320] [--seconds 15] [--max-cameras 32]
Last line: {"raw_ms", "pipeline_ms", "efficiency", "cameras_5fps", "p95_latency_ms", "rss_mb_8cams",
"input", ...}
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
STREET = REPO.parent / "shared" / "media" / "street-1080p.mp4"
sys.path.insert(0, str(REPO))

from casewatch.simulation.scene import INTERROGATION_ZONES, interrogation_scene, still_room_scene, write_video  # noqa: E402
from detectors.config import Camera  # noqa: E402
from detectors.detection import load_detector  # noqa: E402
from detectors.models import ModelStore  # noqa: E402
from detectors.pipeline import GatePolicy  # noqa: E402
from detectors.regions import RegionPolicy  # noqa: E402
from detectors.vision import VisionService, VisionSettings  # noqa: E402
from protocol.clock import SystemClock  # noqa: E402


def camera(camera_id: str, path: Path, *, fps: float, pace: bool, loop: bool) -> Camera:
    zones = [
        {"id": z.id, "role": z.role, "polygon": [list(p) for p in z.polygon]} for z in INTERROGATION_ZONES
    ]
    source = {"type": "file", "path": str(path), "pace": pace, "loop": loop}
    return Camera.model_validate({"id": camera_id, "room": "r", "source": source, "fps": fps, "zones": zones})


def detector(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    return load_detector(Path(args.model), imgsz=args.imgsz, confidence=0.4, threads=args.threads)


def raw_and_pipeline(args: argparse.Namespace, media: Path, workdir: Path) -> dict[str, float]:
    import cv2

    det = detector(args)
    capture = cv2.VideoCapture(str(media))
    frames = []
    while len(frames) < 96:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    for frame in frames[:5]:
        det.detect(frame)  # warm up
    started = time.perf_counter()
    for frame in frames:
        det.detect(frame)
    raw_ms = (time.perf_counter() - started) * 1000 / len(frames)

    source_fps = cv2.VideoCapture(str(media)).get(cv2.CAP_PROP_FPS) or 25.0
    # detect every frame, the whole frame only: one model run per frame, comparable with (a)
    settings = VisionSettings(policy=GatePolicy(recheck_s=0.0, idle_recheck_s=0.0), regions=None)
    cam = camera("bench", media, fps=source_fps, pace=False, loop=True)
    service = VisionService(
        [cam], det, lambda o: None, clock=SystemClock(), evidence_root=workdir, settings=settings
    )
    service.start()
    stats = service.pool.stats

    def wait_for(frames: int) -> float:
        while stats.frames < frames:
            time.sleep(0.002)
        return time.perf_counter()

    warm, measured = 10, 3 * len(frames)  # skip start-up, then three passes over the footage
    started = wait_for(warm)
    elapsed = wait_for(warm + measured) - started
    service.stop()
    return {"raw_ms": raw_ms, "pipeline_ms": elapsed * 1000 / measured, "pipeline_frames": measured}


def peak_rss_mb() -> float:
    """Peak resident set of this process (VmHWM: unlike ru_maxrss it is not inherited across exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def trial(args: argparse.Namespace) -> dict[str, object]:
    """Run N live-paced still-room cameras for a while; report drops, fps, latency, RSS."""
    det = detector(args)
    assert "torch" not in sys.modules or not args.model.endswith(".onnx"), "ONNX runs must not load torch"
    cams = [camera(f"cam{i:02d}", Path(args.clip), fps=5.0, pace=True, loop=True) for i in range(args.trial)]
    settings = VisionSettings(regions=RegionPolicy() if args.detection == "regions" else None)
    with tempfile.TemporaryDirectory() as tmp:
        service = VisionService(
            cams, det, lambda o: None, clock=SystemClock(), evidence_root=Path(tmp), settings=settings
        )
        service.start()
        time.sleep(3.0)  # start-up: model warm-up, first detections
        service.latencies_ms.clear()
        before = {c: (s.submitted, s.dropped) for c, s in service.pool.stats.cameras.items()}
        detected_before, images_before = service.pool.stats.frames, service.pool.stats.images
        time.sleep(args.seconds)
        fps = [service.fps(c.id) for c in cams]
        dropped = sum(s.dropped - before.get(c, (0, 0))[1] for c, s in service.pool.stats.cameras.items())
        p95 = service.latency_p95_ms()
        detected = service.pool.stats.frames - detected_before
        runs = service.pool.stats.images - images_before
        per_s = detected / args.seconds
        service.stop()
    rss_mb = peak_rss_mb()
    return {
        "cameras": args.trial, "dropped": dropped, "min_fps": round(min(fps), 2), "p95_latency_ms": p95,
        "rss_mb": round(rss_mb), "detections_per_s": round(per_s, 1),
        "detector_share": round(per_s / (5.0 * args.trial), 3),  # analysed frames that reached the model
        "model_runs_per_detection": round(runs / max(1, detected), 2),  # the frame and its crops
    }  # fmt: skip


def run_trial(args: argparse.Namespace, cameras: int, clip: Path) -> dict[str, object]:
    command = [
        sys.executable, __file__, "--trial", str(cameras), "--clip", str(clip),
        "--seconds", str(args.seconds), "--imgsz", str(args.imgsz), "--threads", str(args.threads),
        "--model", args.model, "--detection", args.detection,
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-2000:])
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def sustained(result: dict[str, object]) -> bool:
    p95 = result["p95_latency_ms"]
    return (
        result["dropped"] == 0
        and float(result["min_fps"]) >= 4.75  # type: ignore[arg-type]
        and (p95 is None or float(p95) < 500)  # type: ignore[arg-type]
    )


def most_cameras(
    args: argparse.Namespace, clip: Path, *, start: int, step: int, label: str
) -> dict[str, object] | None:
    """The largest trial that is sustained, adding ``step`` cameras at a time."""
    best: dict[str, object] | None = None
    count = start
    while count <= args.max_cameras:
        result = run_trial(args, count, clip)
        print(f"{label} {result}", flush=True)
        if not sustained(result):
            break
        best = result
        count += step
    return best


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", help="weights (.pt/.onnx); default: yolov8n exported to ONNX at --imgsz")
    parser.add_argument("--threads", type=int, default=1, help="ONNX Runtime threads for the detector")
    parser.add_argument("--imgsz", type=int, default=320)
    parser.add_argument("--seconds", type=float, default=15.0, help="length of each camera trial")
    parser.add_argument("--max-cameras", type=int, default=32)
    parser.add_argument("--detection", choices=["regions", "full"], default="regions", help="for (c)/(d)")
    parser.add_argument("--trial", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--clip", help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", str(os.cpu_count() or 2))
    if args.trial:
        print(json.dumps(trial(args)))
        return
    if not args.model:
        args.model = str(ModelStore().export_onnx("yolov8n", imgsz=args.imgsz))

    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        if STREET.is_file():
            media, label = STREET, f"real footage {STREET.name} (1920x1080, 25 fps)"
        else:
            media = write_video(interrogation_scene(20.0), workdir / "room-720p.mp4", fps=25)
            label = "synthetic interrogation room 1280x720, 25 fps (street footage absent)"
        print(f"input (a)(b): {label}", flush=True)
        figures = raw_and_pipeline(args, media, workdir)
        print(f"(a) raw inference      {figures['raw_ms']:.1f} ms/frame", flush=True)
        frames = figures["pipeline_frames"]
        print(
            f"(b) pipeline           {figures['pipeline_ms']:.1f} ms/frame over {frames} frames", flush=True
        )

        clip = write_video(still_room_scene(20.0), workdir / "still-720p.mp4", fps=15)
        print("input (c)(d): synthetic still room 1280x720, 15 fps, one seated person", flush=True)
        eight = run_trial(args, 8, clip)
        print(f"(d) 8 cameras: {eight}", flush=True)
        best = most_cameras(args, clip, start=4, step=4, label="(c) still")
        moving = None
        if STREET.is_file():  # the detector must run on most frames: people move everywhere
            print(f"input (c) moving: {STREET.name} on every camera (1920x1080, 25 fps, paced)", flush=True)
            moving = most_cameras(args, STREET, start=1, step=1, label="(c) moving")
    summary = {
        "raw_ms": round(figures["raw_ms"], 1),
        "pipeline_ms": round(figures["pipeline_ms"], 1),
        "efficiency": round(figures["raw_ms"] / figures["pipeline_ms"], 2),
        "cameras_5fps": best["cameras"] if best else 0,
        "p95_latency_ms": round(float(best["p95_latency_ms"] or 0), 1) if best else None,  # type: ignore[arg-type]
        "detections_per_s": best["detections_per_s"] if best else None,
        "detector_share": best["detector_share"] if best else None,
        "cameras_5fps_moving": moving["cameras"] if moving else None,
        "detections_per_s_moving": moving["detections_per_s"] if moving else None,
        "detector_share_moving": moving["detector_share"] if moving else None,
        "model_runs_per_detection_moving": moving["model_runs_per_detection"] if moving else None,
        "rss_mb_8cams": eight["rss_mb"],
        "imgsz": args.imgsz,
        "model": Path(args.model).name,
        "threads": args.threads,
        "detection": args.detection,
        "input": label,
    }
    print(json.dumps(summary, ensure_ascii=False))


if __name__ == "__main__":
    main()

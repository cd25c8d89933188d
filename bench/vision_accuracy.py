"""Counting accuracy on real footage labelled by eye (``tests/data/footage/labels.yaml``).

Runs the agent's own per-camera pipeline — frames sampled at the camera's analysis rate (5 fps),
motion gate, detector, IoU tracker, zones (bottom centre, closed polygons), inertia — over each
labelled clip, once per setting (``regions320``: the default, the 320-px model on the whole frame
and on square crops of large frames, ``detectors.regions``; ``full320``: the whole frame only;
``full640``: the whole frame at 640 px), and prints per clip and zone:

- ``exact``: share of labelled frames (ambiguous ones left out) whose reported count — the count
  the agent published, dated from its ``since`` as the hub dates it — equals the label;
- ``mae``: mean absolute error over the same frames;
- transitions found / missed / spurious, with their latency (label change → confirmation);
- the detector's cost: model runs, ms per run, and ms per detected frame (every run on that frame:
  the whole frame and its crops) — the figure to compare between settings.

Clips labelled only at sampled frames (``sampled:``, the street) are scored on the raw per-frame
zone counts at those frames (people move; no inertia): the boxes the pipeline tracked on that
frame, after the regions' merge. Every analysed frame before goes through the same pipeline, so
crops looked at earlier count as they would live. Media come from
``../shared/media`` (``--media``). Last line: JSON with every figure.
Usage: python bench/vision_accuracy.py [--settings full320,full640] [--clips one-by-one,classroom]
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from detectors.regions import RegionPolicy  # noqa: E402
from detectors.zones import ZoneChange, ZoneShape  # noqa: E402

FOOTAGE = REPO / "tests" / "data" / "footage"
LABELS = [FOOTAGE / "labels.yaml", FOOTAGE / "street.yaml"]
MEDIA = REPO.parent / "shared" / "media"
ANALYSIS_FPS = 5.0
MATCH_MS = 1500
SETTINGS: dict[str, tuple[int, RegionPolicy | None]] = {
    "regions320": (320, RegionPolicy()),
    "full320": (320, None),
    "full640": (640, None),
}


@dataclass
class Run:
    """What one clip at one setting produced."""

    changes: dict[str, list[tuple[ZoneChange, int]]] = field(default_factory=dict)
    """zone -> (change, media time it was confirmed at)"""
    raw: dict[int, dict[str, int]] = field(default_factory=dict)
    """frame -> zone -> raw detector count (frames in ``sampled`` only)"""
    analysed: int = 0
    detected_frames: int = 0
    detector_runs: int = 0
    detector_s: float = 0.0


def shapes(zones: dict[str, list[list[float]]]) -> list[ZoneShape]:
    return [
        ZoneShape(name, "area", tuple((float(x), float(y)) for x, y in poly)) for name, poly in zones.items()
    ]


def detect(detector: Any, frame: Any, crops: list[Any], run: Run) -> tuple[list[Any], list[Any]]:
    """The whole frame's boxes and each crop's, timed as one detector call (as the agent's pool)."""
    started = time.perf_counter()
    found = detector.detect_batch([frame, *(crop.cut(frame) for crop in crops)])
    run.detector_s += time.perf_counter() - started
    run.detector_runs += len(found)
    run.detected_frames += 1
    return list(found[0]), list(zip(crops, found[1:], strict=True))


def raw_counts(zones: list[ZoneShape], pipeline: Any, width: int, height: int) -> dict[str, int]:
    boxes = [t.box for t in pipeline.last_tracks]
    return {z.id: sum(z.contains((d.x1 + d.x2) / 2 / width, d.y2 / height) for d in boxes) for z in zones}


def run_clip(path: Path, clip: dict[str, Any], detector: Any, regions: RegionPolicy | None) -> Run:
    import cv2

    from detectors.pipeline import CameraPipeline, GatePolicy

    zones = shapes(clip["zones"])
    sampled = {s["frame"] for s in clip.get("sampled", [])}
    pipeline = CameraPipeline("bench", zones, GatePolicy(), regions=regions)
    step = max(1, round(clip["fps"] / ANALYSIS_FPS))
    capture, run, index = cv2.VideoCapture(str(path)), Run(), -1
    while capture.grab():
        index += 1
        if index % step and index not in sampled:
            continue
        ok, frame = capture.retrieve()
        if not ok:
            break
        height, width = frame.shape[:2]
        ts = round(index * 1000 / clip["fps"])
        small = cv2.resize(frame, (640, round(height * 640 / width))) if width > 640 else frame
        run.analysed += 1
        if pipeline.needs_detection(small, ts) or index in sampled:
            whole, crops = detect(detector, frame, pipeline.plan_crops(width, height, ts), run)
            for change in pipeline.observe(whole, width, height, ts, crops):
                run.changes.setdefault(change.zone, []).append((change, ts))
            if index in sampled:
                run.raw[index] = raw_counts(zones, pipeline, width, height)
    capture.release()
    return run


def label_at(clip: dict[str, Any], zone: str) -> dict[int, int]:
    return {f: r[zone] for r in clip["counts"] for f in range(r["frames"][0], r["frames"][1] + 1)}


def reported_at(changes: list[tuple[ZoneChange, int]], t_ms: int) -> int:
    count = changes[0][0].count if changes else 0
    for change, _ in changes:
        if change.since_ms <= t_ms:
            count = change.count
    return count


def transitions(truth: dict[int, int], fps: float) -> list[tuple[int, int]]:
    """(time ms, new count) of every change of the label."""
    frames = sorted(truth)
    return [(round(f * 1000 / fps), truth[f]) for a, f in itertools.pairwise(frames) if truth[f] != truth[a]]


def score_zone(clip: dict[str, Any], zone: str, changes: list[tuple[ZoneChange, int]]) -> dict[str, Any]:
    truth = label_at(clip, zone)
    ambiguous = {f for a, b in clip.get("ambiguous", []) for f in range(a, b + 1)}
    frames = [f for f in sorted(truth) if f not in ambiguous]
    errors = [abs(reported_at(changes, round(f * 1000 / clip["fps"])) - truth[f]) for f in frames]
    pending = [(c, at) for c, at in changes[1:]]  # the first is the baseline
    found, latencies = 0, []
    for t_ms, count in transitions(truth, clip["fps"]):
        match = next(
            (p for p in pending if p[0].count == count and abs(p[0].since_ms - t_ms) <= MATCH_MS), None
        )
        if match is not None:
            pending.remove(match)
            found += 1
            latencies.append(match[1] - t_ms)
    total = len(transitions(truth, clip["fps"]))
    return {
        "exact": round(sum(e == 0 for e in errors) / max(1, len(errors)), 4),
        "mae": round(sum(errors) / max(1, len(errors)), 4),
        "transitions": total, "found": found, "missed": total - found, "spurious": len(pending),
        "latency_ms_max": max(latencies, default=None),
        "latency_ms_mean": round(sum(latencies) / len(latencies)) if latencies else None,
    }  # fmt: skip


def score_sampled(clip: dict[str, Any], run: Run) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for zone in clip["zones"]:
        errors = [abs(run.raw[s["frame"]][zone] - s[zone]) for s in clip["sampled"] if s["frame"] in run.raw]
        out[zone] = {"mae": round(sum(errors) / max(1, len(errors)), 3), "frames": len(errors)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--labels", type=Path, action="append", help="labels.yaml (repeatable)")
    parser.add_argument("--media", type=Path, default=MEDIA)
    parser.add_argument("--settings", default=",".join(SETTINGS))
    parser.add_argument("--clips", default="")
    args = parser.parse_args()
    from detectors.detection import load_detector
    from detectors.models import ModelStore

    clips: dict[str, Any] = {}
    for labels in args.labels or LABELS:
        clips.update(yaml.safe_load(labels.read_text("utf-8"))["clips"])
    wanted = [c for c in args.clips.split(",") if c] or list(clips)
    results: dict[str, Any] = {}
    for setting in args.settings.split(","):
        imgsz, regions = SETTINGS[setting]
        store = ModelStore()
        weights = store.onnx_path("yolov8n", imgsz)
        if not weights.is_file():
            weights = store.export_onnx("yolov8n", imgsz=imgsz)
        detector = load_detector(weights, imgsz=imgsz, confidence=0.4, threads=1)
        for name in wanted:
            clip = clips[name]
            run = run_clip(args.media / clip["file"], clip, detector, regions)
            if "sampled" in clip:
                zones = score_sampled(clip, run)
            else:
                zones = {z: score_zone(clip, z, run.changes.get(z, [])) for z in clip["zones"]}
            cost = {
                "analysed": run.analysed,
                "detected_frames": run.detected_frames,
                "detector_runs": run.detector_runs,
                "ms_per_run": round(1000 * run.detector_s / max(1, run.detector_runs), 1),
                "ms_per_frame": round(1000 * run.detector_s / max(1, run.detected_frames), 1),
            }
            results[f"{name}/{setting}"] = {"zones": zones, **cost}
            print(f"{name:<12} {setting:<8} {json.dumps(zones, ensure_ascii=False)} {cost}", flush=True)
    for key, result in list(results.items()):
        base = results.get(key.rsplit("/", 1)[0] + "/full320")
        if base and base["ms_per_frame"]:
            result["time_vs_full320"] = round(result["ms_per_frame"] / base["ms_per_frame"], 2)
    print(json.dumps(results, ensure_ascii=False))


if __name__ == "__main__":
    main()

"""``casewatch zones preview``: one frame of a camera with its zones, the detections and each
zone's count drawn on it — what an integrator checks before deploying a zone file. The counting is
the agent's own (``detectors.zones``: bottom centre of each box, closed polygons)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from casewatch.exits import EXIT_CONFIG, EXIT_FAILED
from protocol.errors import CasewatchError


def grab_frame(source: Any, at_s: float) -> Any:
    """The frame ``at_s`` seconds into a file (or after ``at_s`` seconds of a live source)."""
    import time

    import cv2

    from detectors.config import FileSource
    from detectors.sources import CameraError, open_capture

    opened = open_capture(source)
    started = time.monotonic()
    try:
        while True:  # grab up to the moment (a file by its own clock, a live source by ours)
            if not opened.capture.grab():
                raise CameraError(f"no frame at {at_s:g} s")
            at = (
                opened.capture.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
                if isinstance(source, FileSource)
                else time.monotonic() - started
            )
            if at >= at_s:
                break
        ok, frame = opened.capture.retrieve()
        if not ok or frame is None:
            raise CameraError(f"no frame at {at_s:g} s")
        return frame
    finally:
        opened.capture.release()


def zone_counts(frame: Any, zones: list[Any], detections: list[Any]) -> dict[str, int]:
    height, width = frame.shape[:2]
    return {
        zone.id: sum(
            zone.contains(d.bottom_centre[0] / width, d.bottom_centre[1] / height) for d in detections
        )
        for zone in zones
    }


def draw(frame: Any, zones: list[Any], detections: list[Any], counts: dict[str, int]) -> Any:
    import cv2

    from detectors.evidence import annotate
    from detectors.tracker import Track

    tracks = [Track(index + 1, d) for index, d in enumerate(detections)]
    out = annotate(frame, zones, tracks)
    height, width = out.shape[:2]
    for zone in zones:
        x = sum(p[0] for p in zone.polygon) / len(zone.polygon) * width
        y = sum(p[1] for p in zone.polygon) / len(zone.polygon) * height
        cv2.putText(out, f"{zone.id}: {counts[zone.id]}", (int(x) - 40, int(y)), cv2.FONT_HERSHEY_SIMPLEX,
                    1.0, (255, 255, 255), 3)  # fmt: skip
    for detection in detections:
        cx, cy = detection.bottom_centre
        cv2.circle(out, (int(cx), int(min(cy, height - 3))), 5, (0, 255, 255), -1)  # the counted point
    return out


@click.group()
def zones() -> None:
    """区域工具：在摄像机画面上查看区域与计数 (zone tools: see a camera's zones and counts)."""


@zones.command("preview")
@click.option("--config", "config_path", required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--camera", "camera_id", required=True, help="The camera's id.")
@click.option(
    "--at", "at_s", default=0.0, show_default=True, help="Seconds into the file (live: wait this long)."
)
@click.option(
    "--output", required=True, type=click.Path(dir_okay=False, path_type=Path), help="PNG to write."
)
def preview(config_path: Path, camera_id: str, at_s: float, output: Path) -> None:
    """把区域、检测框和每个区域的人数画在一帧画面上 (draw the zones, the detections and each zone's count
    on one frame of the camera, using the agent's model and counting)."""
    import cv2

    from casewatch.cli import _load_or_exit
    from detectors.detection import load_detector
    from detectors.models import ModelStore
    from detectors.regions import detect_regions
    from detectors.vision import zone_shapes

    cfg = _load_or_exit(config_path, "agent")
    camera = next((c for c in cfg.cameras if c.id == camera_id), None)
    if camera is None:
        click.echo(f"✗ 没有摄像机 {camera_id} (no camera {camera_id!r}; cameras: "
                   f"{', '.join(c.id for c in cfg.cameras) or 'none'})", err=True)  # fmt: skip
        sys.exit(EXIT_CONFIG)
    try:
        frame = grab_frame(camera.source, at_s)
        m = cfg.model
        weights = ModelStore(m.dir).resolve_for(m.name, m.format, m.imgsz, m.path)
        detector = load_detector(weights, imgsz=m.imgsz, confidence=m.confidence, threads=m.threads)
        policy = cfg.vision.detection.policy()
        detections = detect_regions(detector, frame, policy) if policy else detector.detect(frame)
    except CasewatchError as exc:
        click.echo(f"✗ {exc}", err=True)
        sys.exit(EXIT_FAILED)
    shapes = zone_shapes(camera)
    counts = zone_counts(frame, shapes, detections)
    if not cv2.imwrite(str(output), draw(frame, shapes, detections, counts)):
        click.echo(f"✗ cannot write {output}", err=True)
        sys.exit(EXIT_FAILED)
    height, width = frame.shape[:2]
    click.echo(f"✓ {output}: {camera_id} {width}×{height} at {at_s:g} s, {len(detections)} 人 (persons) — "
               + ", ".join(f"{zone}: {n}" for zone, n in counts.items()))  # fmt: skip

"""Scripted synthetic room videos with known ground truth, for tests, benchmarks and the demo.

Person cut-outs from the two photos Ultralytics ships (``bus.jpg``, ``zidane.jpg``) are pasted
onto a drawn interrogation room (wall, floor, desk, chair, door) at positions a script gives over
time, so every frame's true count per zone is known. A real camera's on-screen clock is drawn
too: it is what makes a live picture never quite identical from second to second.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import cv2
import numpy as np

from detectors.zones import ZoneShape

WIDTH, HEIGHT = 1280, 720

# (photo, x1, y1, x2, y2): person boxes found by YOLOv8n in Ultralytics' sample photos.
SPRITES: dict[str, tuple[str, int, int, int, int]] = {
    "standing-a": ("bus.jpg", 49, 399, 245, 903),
    "standing-b": ("bus.jpg", 222, 406, 345, 858),
    "standing-c": ("bus.jpg", 669, 392, 810, 877),
    "seated-a": ("zidane.jpg", 748, 42, 1143, 713),
}


def assets_dir() -> Path:
    import ultralytics

    return Path(ultralytics.__file__).parent / "assets"


@cache
def sprite(name: str) -> np.ndarray:
    photo, x1, y1, x2, y2 = SPRITES[name]
    image = cv2.imread(str(assets_dir() / photo))
    if image is None:
        raise FileNotFoundError(f"Ultralytics asset {photo} is missing")
    return image[y1:y2, x1:x2].copy()


@dataclass(frozen=True)
class Place:
    """Bottom centre (x, y) and height h of a person, all relative to the frame."""

    x: float
    y: float
    h: float


@dataclass(frozen=True)
class Actor:
    id: str
    sprite: str
    keys: tuple[tuple[float, Place | None], ...]
    """(time s, place) keyframes; ``None`` means absent from then on; positions interpolate."""

    def place(self, t: float) -> Place | None:
        current: tuple[float, Place | None] | None = None
        following: tuple[float, Place | None] | None = None
        for key in self.keys:
            if key[0] <= t:
                current = key
            elif following is None:
                following = key
        if current is None:
            return None
        start_t, start = current
        if start is None:
            return None
        if following is None:
            return start
        end_t, end = following
        if end is None:
            return start
        f = (t - start_t) / (end_t - start_t)
        return Place(
            start.x + (end.x - start.x) * f, start.y + (end.y - start.y) * f, start.h + (end.h - start.h) * f
        )


@dataclass(frozen=True)
class Scene:
    actors: tuple[Actor, ...]
    duration_s: float
    start: dt.datetime = dt.datetime(2026, 1, 1, 10, 18, 30)

    def truth(self, t: float, zones: Sequence[ZoneShape]) -> dict[str, int]:
        """The scripted count of each zone at time t (people whose feet are in the frame)."""
        places = [p for a in self.actors if (p := a.place(t)) is not None and 0.0 <= p.x <= 1.0]
        return {z.id: sum(z.contains(p.x, p.y) for p in places) for z in zones}


@cache
def room_background(width: int = WIDTH, height: int = HEIGHT) -> np.ndarray:
    img = np.zeros((height, width, 3), np.uint8)
    horizon = int(height * 0.55)
    img[:horizon] = (196, 204, 208)  # wall
    img[horizon:] = (120, 132, 146)  # floor
    for x in range(0, width, width // 16):  # floor tiles
        cv2.line(img, (x, horizon), (x + (x - width // 2) // 2, height), (110, 120, 134), 1)
    cv2.rectangle(
        img, (int(width * 0.86), int(height * 0.12)), (int(width * 0.98), horizon + 40), (70, 90, 120), -1
    )
    cv2.circle(img, (int(width * 0.88), int(height * 0.36)), 6, (40, 170, 200), -1)  # door and handle
    cv2.rectangle(
        img,
        (int(width * 0.30), int(height * 0.08)),
        (int(width * 0.55), int(height * 0.30)),
        (230, 225, 200),
        -1,
    )
    cv2.putText(
        img,
        "JIANDU",
        (int(width * 0.36), int(height * 0.22)),
        cv2.FONT_HERSHEY_SIMPLEX,
        1.2,
        (40, 40, 160),
        3,
    )
    cv2.rectangle(
        img,
        (int(width * 0.05), int(height * 0.60)),
        (int(width * 0.45), int(height * 0.70)),
        (60, 80, 110),
        -1,
    )
    cv2.rectangle(
        img,
        (int(width * 0.68), int(height * 0.62)),
        (int(width * 0.88), int(height * 0.66)),
        (50, 50, 50),
        -1,
    )
    return img


@dataclass(frozen=True)
class Lens:
    """Faults of the optics, applied under the on-screen text as a real camera's DSP does."""

    blur: int = 0
    """Gaussian kernel size (odd) for a defocused lens."""
    shift: float = 0.0
    """Horizontal shift of the view, as a fraction of the width (camera knocked aside)."""
    covered: bool = False
    """Lens covered: black picture."""


def render(
    scene: Scene, t: float, *, width: int = WIDTH, height: int = HEIGHT, lens: Lens | None = None
) -> np.ndarray:
    frame = room_background(width, height).copy()
    placed = [(a, p) for a in scene.actors if (p := a.place(t)) is not None]
    for actor, place in sorted(placed, key=lambda item: item[1].y):  # far ones first
        cut = sprite(actor.sprite)
        h = max(8, int(place.h * height))
        w = max(4, int(cut.shape[1] * h / cut.shape[0]))
        person = cv2.resize(cut, (w, h), interpolation=cv2.INTER_AREA)
        x0, y0 = int(place.x * width - w / 2), int(place.y * height - h)
        fx0, fy0, fx1, fy1 = max(0, x0), max(0, y0), min(width, x0 + w), min(height, y0 + h)
        if fx0 < fx1 and fy0 < fy1:
            frame[fy0:fy1, fx0:fx1] = person[fy0 - y0 : fy1 - y0, fx0 - x0 : fx1 - x0]
    if lens is not None:
        if lens.covered:
            frame[:] = 0
        if lens.blur:
            frame = cv2.GaussianBlur(frame, (lens.blur, lens.blur), 0)
        if lens.shift:
            frame = np.roll(frame, int(lens.shift * width), axis=1)
    stamp = (scene.start + dt.timedelta(seconds=int(t))).strftime("%Y-%m-%d %H:%M:%S")
    cv2.putText(frame, stamp, (20, 40), cv2.FONT_HERSHEY_SIMPLEX, 1.0, (255, 255, 255), 2)
    cv2.putText(frame, "CAM-INT-1", (20, height - 20), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (255, 255, 255), 2)
    return frame


def write_video(
    scene: Scene, path: Path, *, fps: float = 5.0, width: int = WIDTH, height: int = HEIGHT
) -> Path:
    """Render the whole scene into an MP4 (MPEG-4 Part 2: the codec OpenCV's wheels can write)."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), fps, (width, height))
    if not writer.isOpened():
        raise OSError(f"cannot write {path}")
    try:
        for index in range(int(scene.duration_s * fps)):
            writer.write(render(scene, index / fps, width=width, height=height))
    finally:
        writer.release()
    return path


OFFICER_SIDE = ZoneShape("officers", "officers", ((0.0, 0.0), (0.55, 0.0), (0.55, 1.0), (0.0, 1.0)))
DETAINEE_SIDE = ZoneShape(
    "detainee-seat", "detainee_seat", ((0.55, 0.0), (1.0, 0.0), (1.0, 1.0), (0.55, 1.0))
)
INTERROGATION_ZONES = (OFFICER_SIDE, DETAINEE_SIDE)


def interrogation_scene(duration_s: float = 40.0, *, leave_at: float = 12.0, back_at: float = 26.0) -> Scene:
    """Two officers at the desk, a detainee in the chair; one officer walks out and comes back."""
    return Scene(
        actors=(
            Actor("officer-1", "standing-a", ((0.0, Place(0.16, 0.92, 0.62)),)),
            Actor(
                "officer-2",
                "standing-c",
                (
                    (0.0, Place(0.40, 0.95, 0.60)),
                    (leave_at, Place(0.40, 0.95, 0.60)),
                    (leave_at + 3.0, Place(-0.15, 0.95, 0.60)),
                    (leave_at + 3.01, None),
                    (back_at, Place(-0.15, 0.95, 0.60)),
                    (back_at + 3.0, Place(0.40, 0.95, 0.60)),
                ),
            ),
            Actor("detainee", "seated-a", ((0.0, Place(0.78, 0.98, 0.62)),)),
        ),
        duration_s=duration_s,
    )


def still_room_scene(duration_s: float = 30.0) -> Scene:
    """A mostly static room: one person seated the whole time (the benchmark's case)."""
    return Scene(
        actors=(Actor("detainee", "seated-a", ((0.0, Place(0.78, 0.98, 0.62)),)),), duration_s=duration_s
    )


def scene_from_doc(doc: object, *, duration_s: float = 3600.0) -> Scene:
    """A scene from a scenario file's camera entry (docs/demo.md "Scenes")::

        actors:
          - id: officer-2
            sprite: standing-c
            keys: [[0, [0.40, 0.95, 0.60]], [40, [0.40, 0.95, 0.60]], [43, [-0.15, 0.95, 0.60]], [43.1, null]]

    Each key is ``[time s, [x, y, h]]`` (bottom centre and height, relative) or ``[time s, null]``
    (gone from then on); positions interpolate between keys, so a walk is two keys. Raises
    ``ValueError`` naming the actor and the key that is wrong.
    """
    if not isinstance(doc, dict) or not isinstance(doc.get("actors"), list):
        raise ValueError("a scene needs actors: a list of {id, sprite, keys}")
    actors = []
    for index, entry in enumerate(doc["actors"]):
        if not isinstance(entry, dict):
            raise ValueError(f"actor {index}: expected a mapping with id, sprite, keys")
        name = str(entry.get("id") or f"actor-{index}")
        if entry.get("sprite") not in SPRITES:
            raise ValueError(f"actor {name}: sprite must be one of {', '.join(SPRITES)}")
        keys: list[tuple[float, Place | None]] = []
        for key in entry.get("keys") or []:
            if not isinstance(key, list | tuple) or len(key) != 2:
                raise ValueError(f"actor {name}: key {key!r} is not [time, [x, y, h]] or [time, null]")
            at, where = key
            if not isinstance(at, int | float) or at < 0:
                raise ValueError(f"actor {name}: key time {at!r} must be seconds ≥ 0")
            if where is None:
                keys.append((float(at), None))
                continue
            if not isinstance(where, list | tuple) or len(where) != 3:
                raise ValueError(f"actor {name}: place {where!r} is not [x, y, h]")
            x, y, h = (float(v) for v in where)
            if not (-0.5 <= x <= 1.5 and 0.0 <= y <= 1.0 and 0.0 < h <= 1.0):
                raise ValueError(f"actor {name}: place {where!r} is outside the frame's limits")
            keys.append((float(at), Place(x, y, h)))
        if not keys:
            raise ValueError(f"actor {name}: needs at least one key")
        if [k[0] for k in keys] != sorted(k[0] for k in keys):
            raise ValueError(f"actor {name}: key times must not go back")
        actors.append(Actor(name, str(entry["sprite"]), tuple(keys)))
    return Scene(actors=tuple(actors), duration_s=duration_s)

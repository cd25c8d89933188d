"""Floor plan pictures kept beside the store (``plans/{sha256}.png|jpg``), named by their hash.

An admin uploads a centre's plan once; the ``plan.image`` record in the log carries its SHA-256,
so the picture a layout was drawn on is known and a swapped file is noticed when it is served.
Only PNG and JPEG that OpenCV can decode are kept: a plan is shown in every operator's browser.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from protocol.errors import CasewatchError

MAX_PIXELS = 40_000_000
MAX_SIDE = 8_000
"""Pixels a side: a centre's plan needs far fewer; a bigger one would take a gigabyte to decode."""
MEDIA = {"image/png": ".png", "image/jpeg": ".jpg"}


class PlanImageError(CasewatchError):
    """A picture that cannot be a plan (not PNG/JPEG, undecodable, absurd size, file changed)."""


@dataclass(frozen=True)
class PlanPicture:
    sha256: str
    media: str
    width: int
    height: int


def inspect(data: bytes) -> PlanPicture:
    """What the bytes are, or ``PlanImageError`` saying why they are no plan picture."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        media = "image/png"
    elif data.startswith(b"\xff\xd8\xff"):
        media = "image/jpeg"
    else:
        raise PlanImageError("平面图须为 PNG 或 JPEG (a plan must be a PNG or JPEG picture)")
    declared = _declared_size(data, media)
    if declared is None:
        raise PlanImageError("平面图无法解码 (the picture cannot be decoded)")
    # read from the header: a decompression bomb is refused before it is decoded
    if max(declared) > MAX_SIDE or declared[0] * declared[1] > MAX_PIXELS:
        raise PlanImageError(f"平面图过大 (over {MAX_SIDE} pixels a side or {MAX_PIXELS // 1_000_000} MP)")
    if media == "image/png" and data[24] > 8:
        raise PlanImageError("平面图须为每通道8位 (a plan PNG must have 8 bits a channel)")
    try:  # as a browser shows it: 8-bit colour, EXIF orientation applied (a phone's photo of a plan)
        full = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    except cv2.error as exc:
        raise PlanImageError(f"平面图无法解码 (the picture cannot be decoded): {exc}") from exc
    if full is None:
        raise PlanImageError("平面图无法解码 (the picture cannot be decoded)")
    height, width = int(full.shape[0]), int(full.shape[1])
    if width > MAX_SIDE or height > MAX_SIDE:
        raise PlanImageError(f"平面图过大 (over {MAX_SIDE} pixels a side)")
    return PlanPicture(hashlib.sha256(data).hexdigest(), media, width, height)


def _declared_size(data: bytes, media: str) -> tuple[int, int] | None:
    """Width and height as the file's header states them (PNG IHDR, JPEG SOFn)."""
    if media == "image/png":
        if len(data) < 24 or data[12:16] != b"IHDR":
            return None
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    at = 2
    while at + 9 < len(data):
        if data[at] != 0xFF:
            return None
        marker = data[at + 1]
        length = int.from_bytes(data[at + 2 : at + 4], "big")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            return int.from_bytes(data[at + 7 : at + 9], "big"), int.from_bytes(data[at + 5 : at + 7], "big")
        at += 2 + length
    return None


class PlanFolder:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def path(self, sha256: str, media: str) -> Path:
        return self.folder / f"{sha256}{MEDIA[media]}"

    def keep(self, data: bytes) -> PlanPicture:
        """Check and write the picture (atomically; an identical one is kept once)."""
        picture = inspect(data)
        target = self.path(picture.sha256, picture.media)
        if not target.exists():
            self.folder.mkdir(parents=True, exist_ok=True)
            part = target.with_suffix(target.suffix + ".part")
            part.write_bytes(data)
            os.replace(part, target)
        return picture

    def read(self, sha256: str, media: str) -> bytes:
        """The picture, checked against the hash the log holds."""
        try:
            data = self.path(sha256, media).read_bytes()
        except (OSError, KeyError) as exc:
            raise PlanImageError(f"平面图文件缺失 (plan picture missing): {exc}") from exc
        if hashlib.sha256(data).hexdigest() != sha256:
            raise PlanImageError("平面图文件与日志记录不符 (the picture file was changed)")
        return data

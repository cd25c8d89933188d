"""How much video a recorded segment holds, read from its fragmented-MP4 boxes (no decoding).

A segment's wall-clock span is its name (first second) to its file's last write. A camera that
stalls without dropping the connection, or sends a burst after a pause, leaves a segment with
fewer seconds of video than of wall time: the recorder compares the two (agent/recording.py) and
reports the difference as a gap. Pure parsing of the box headers and the few small boxes that
carry timing — ``mdhd`` (the track's timescale), each fragment's ``tfhd``/``tfdt``/``trun`` — with
``mdat`` skipped by seeking. None when the file is not a fragmented MP4 this understands.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import BinaryIO

_CONTAINERS = {b"moov", b"trak", b"mdia", b"moof", b"traf"}
_READ = {b"mdhd", b"tfhd", b"tfdt", b"trun"}
MAX_DEPTH = 8
"""moov/trak/mdia and moof/traf nest three deep: deeper is not a file ffmpeg wrote."""
MAX_BOX = 1 << 20
"""A timing box larger than this is not one ffmpeg writes: the file is not read further."""


def _boxes(src: BinaryIO, end: int) -> list[tuple[bytes, int, int]]:
    """``(type, payload start, payload end)`` of the boxes between here and ``end``."""
    out = []
    while src.tell() + 8 <= end:
        at = src.tell()
        size, kind = struct.unpack(">I4s", src.read(8))
        header = 8
        if size == 1:
            (size,) = struct.unpack(">Q", src.read(8))
            header = 16
        elif size == 0:
            size = end - at
        if size < header or at + size > end:
            break
        out.append((kind, at + header, at + size))
        src.seek(at + size)
    return out


def media_ms(path: Path) -> int | None:
    """The video's duration in ms (first fragment's decode time to the last sample's end); None
    for anything else — a file this does not understand, a damaged or hostile one, an I/O error."""
    try:
        with path.open("rb") as src:
            src.seek(0, 2)
            total = src.tell()
            src.seek(0)
            state = _Timing()
            _walk(src, 0, total, state, 0)
    except Exception:
        return None
    if not state.timescale or state.first is None or state.last_end is None:
        return None
    return int((state.last_end - state.first) * 1000 / state.timescale)


class _Timing:
    def __init__(self) -> None:
        self.timescale = 0
        self.first: int | None = None
        self.last_end: int | None = None
        self.default_duration = 0
        self.base = 0


def _walk(src: BinaryIO, start: int, end: int, state: _Timing, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise ValueError("boxes nested too deep")
    src.seek(start)
    for kind, body, stop in _boxes(src, end):
        if kind in _CONTAINERS:
            _walk(src, body, stop, state, depth + 1)
        elif kind in _READ:
            if stop - body > MAX_BOX:
                raise ValueError(f"{kind!r} box too large")
            src.seek(body)
            _timing(kind, src.read(stop - body), state)


def _timing(kind: bytes, data: bytes, state: _Timing) -> None:
    if len(data) < 8:
        raise ValueError(f"{kind!r} box too short")
    version, flags = data[0], int.from_bytes(data[1:4], "big")
    if kind == b"mdhd" and not state.timescale:
        (state.timescale,) = struct.unpack_from(">I", data, 20 if version == 1 else 12)
    elif kind == b"tfhd":
        at = 8 + (8 if flags & 0x01 else 0) + (4 if flags & 0x02 else 0)
        state.default_duration = struct.unpack_from(">I", data, at)[0] if flags & 0x08 else 0
    elif kind == b"tfdt":
        state.base = struct.unpack_from(">Q" if version == 1 else ">I", data, 4)[0]
        state.first = state.base if state.first is None else min(state.first, state.base)
    elif kind == b"trun":
        (count,) = struct.unpack_from(">I", data, 4)
        at = 8 + (4 if flags & 0x01 else 0) + (4 if flags & 0x04 else 0)
        step = 4 * sum(1 for bit in (0x100, 0x200, 0x400, 0x800) if flags & bit)
        if flags & 0x100:
            duration = sum(struct.unpack_from(">I", data, at + i * step)[0] for i in range(count))
        else:
            duration = count * state.default_duration
        state.last_end = max(state.last_end or 0, state.base + duration)

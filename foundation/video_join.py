"""Joining recorded MP4 segments into one playable file, without re-encoding (Debian's ffmpeg).

Continuous recording (agent/recording.py) cuts each camera's stream into fragmented-MP4 segments
at keyframes. A condition's evidence clip (agent) and a package's parts (hub) are runs of those
segments joined with ffmpeg's concat demuxer, ``-c copy``, and ``+faststart`` (the index first,
so a browser plays the file while it loads). The file is written beside its name and renamed.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from protocol.errors import CasewatchError

FFMPEG = "ffmpeg"


class JoinError(CasewatchError):
    """The segments could not be joined (ffmpeg missing or failing); the message says why."""


def _quoted(path: Path) -> str:
    """A path as an ffconcat ``file`` argument: single-quoted, a quote in it escaped."""
    return "'" + str(path.resolve()).replace("'", "'\\''") + "'"


def join_segments(sources: Sequence[Path], target: Path, *, timeout_s: float = 600.0) -> None:
    if not sources:
        raise JoinError(f"no segments to join into {target.name}")
    if shutil.which(FFMPEG) is None:
        raise JoinError("ffmpeg is not installed (apt-get install ffmpeg)")
    target.parent.mkdir(parents=True, exist_ok=True)
    listing = target.with_name(f".{target.name}.ffconcat")
    partial = target.with_name(f".{target.name}.part.mp4")
    listing.write_text("ffconcat version 1.0\n" + "".join(f"file {_quoted(p)}\n" for p in sources),
                       encoding="utf-8")  # fmt: skip
    command = [FFMPEG, "-nostdin", "-hide_banner", "-loglevel", "error", "-f", "concat", "-safe", "0",
               "-i", str(listing), "-map", "0:v:0", "-c", "copy", "-movflags", "+faststart", "-y",
               str(partial)]  # fmt: skip
    try:
        done = subprocess.run(command, capture_output=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired as exc:
        raise JoinError(f"ffmpeg took over {timeout_s:g} s joining {target.name}") from exc
    finally:
        listing.unlink(missing_ok=True)
    if done.returncode != 0:
        partial.unlink(missing_ok=True)
        raise JoinError(f"ffmpeg could not join {target.name}: {done.stderr[-300:].decode(errors='replace')}")
    partial.replace(target)

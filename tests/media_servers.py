"""A GStreamer RTSP server process for tests (see tests/rtsp_server.py)."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from hub.embedded_broker import free_port

SYSTEM_PYTHON = "/usr/bin/python3"
SCRIPT = Path(__file__).with_name("rtsp_server.py")


@dataclass
class RtspServer:
    workdir: Path
    video: Path | str | None = None
    """A video file, or ``pattern:WxH@FPS`` for an endless test pattern of that size."""
    port: int = 0
    _proc: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        return f"rtsp://127.0.0.1:{self.port}/cam"

    def start(self) -> RtspServer:
        self.port = self.port or free_port()
        args = [SYSTEM_PYTHON, str(SCRIPT), str(self.port)] + ([str(self.video)] if self.video else [])
        self._proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline().strip()
        if line != "ready":
            err = self._proc.stderr.read() if self._proc.stderr else ""
            self.stop()
            raise RuntimeError(
                f"RTSP server did not start ({line!r} {err[-500:]}); it needs Debian's python3-gi, "
                "gir1.2-gst-rtsp-server-1.0 and gstreamer1.0-plugins-{base,good,bad,ugly} "
                "(.ci/run installs them)"
            )
        return self

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait(5)
        self._proc = None


def write_segments(folder: Path, *, seconds: int, segment_s: int, size: str = "320x180") -> list[Path]:
    """H.264 test-pattern segments (10 fps, a keyframe a segment) written by Debian's ffmpeg the
    way the recorder writes them (fragmented MP4), named ``00.mp4``, ``01.mp4`` …"""
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i", f"testsrc=size={size}:rate=10",
         "-t", str(seconds), "-c:v", "libx264", "-g", str(segment_s * 10), "-pix_fmt", "yuv420p",
         "-f", "segment", "-segment_time", str(segment_s), "-segment_format", "mp4",
         "-segment_format_options", "movflags=+frag_keyframe+empty_moov+default_base_moof",
         "-reset_timestamps", "1", str(folder / "%02d.mp4")],
        check=True, timeout=60,
    )  # fmt: skip
    return sorted(folder.glob("*.mp4"))

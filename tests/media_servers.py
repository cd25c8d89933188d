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

"""Run the real ``casewatch hub`` as a child process, and kill it like a power cut would."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tests.agent_process import CASEWATCH


@dataclass
class HubProcess:
    config: Path
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 60.0) -> HubProcess:
        offset = self.log.stat().st_size if self.log.exists() else 0
        handle = self.log.open("ab")
        self.proc = subprocess.Popen(
            [CASEWATCH, "hub", "--config", str(self.config), "--log-format", "json"],
            stdout=handle, stderr=handle, env=dict(os.environ),
        )  # fmt: skip
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            text = self.log.read_bytes()[offset:].decode(errors="replace")
            if "hub running" in text and "connected to" in text:
                return self
            if self.proc.poll() is not None:
                raise RuntimeError(f"hub exited with {self.proc.returncode}:\n{text[-3000:]}")
            time.sleep(0.05)
        raise TimeoutError(f"hub not running after {timeout_s} s:\n{self.log.read_text()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(20)

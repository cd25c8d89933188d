"""Run the real ``casewatch agent`` as a child process, as systemd would."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from tests.secret_files import write_secret

CASEWATCH = str(Path(sys.executable).parent / "casewatch")


def agent_config(
    workdir: Path, port: int, *, key: str, registry_key: str | None = None, **extra: object
) -> Path:
    write_secret(workdir / "agent.key", key)
    config: dict[str, object] = {
        "center": "c1",
        "agent": "box-01",
        "mqtt": {"host": "127.0.0.1", "port": port, "keepalive_s": 5},
        "signing": {"key_file": "agent.key"},
        "storage": {"dir": str(workdir / "data")},
        "ops": {"port": 0},
        "rooms": [{"id": "int-1", "name": "讯问室1", "type": "interrogation", "officer_method": "zones"}],
    }
    if registry_key:
        write_secret(workdir / "hub.key", registry_key)
        config["registry_key"] = {"key_file": "hub.key"}
    # no hub in most agent tests (a collector stands in): publish without waiting for its status,
    # and forget on the broker's PUBACK (no hub sends receipts); the fault suite turns both on
    config["outbox"] = {"wait_for_hub": False, "receipts": False}
    config.update(extra)
    path = workdir / "center.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True))
    return path


@dataclass
class AgentProcess:
    config: Path
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    ops_port: int | None = None
    env: dict[str, str] = field(default_factory=dict)

    def start(self, timeout_s: float = 60.0) -> AgentProcess:
        handle = self.log.open("ab")
        env = {**os.environ, **self.env}
        self.proc = subprocess.Popen(
            [CASEWATCH, "agent", "--config", str(self.config), "--log-format", "json"],
            stdout=handle, stderr=handle, env=env,
        )  # fmt: skip
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            text = self.log.read_text(errors="replace")
            ports = re.findall(r"metrics on http://127\.0\.0\.1:(\d+)/metrics", text)
            if ports and "agent running" in text.split("metrics on")[-1] + text[-400:]:
                self.ops_port = int(ports[-1])
                return self
            if self.proc.poll() is not None:
                raise RuntimeError(f"agent exited with {self.proc.returncode}:\n{text[-3000:]}")
            time.sleep(0.1)
        raise TimeoutError(f"agent did not start:\n{self.log.read_text()[-3000:]}")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def terminate(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

"""A RabbitMQ node of the test's own with the MQTT plugin: Debian's rabbitmq-server, started on free
ports in a temporary folder (the machine's own node, if any, is left alone), stopped after."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from hub.embedded_broker import free_port

SERVER = "/usr/sbin/rabbitmq-server"
CTL = "/usr/sbin/rabbitmqctl"


@dataclass
class RabbitMq:
    workdir: Path = Path()
    host: str = "127.0.0.1"
    port: int = 0
    node: str = field(default_factory=lambda: f"cwtest{uuid.uuid4().hex[:8]}@localhost")
    _proc: subprocess.Popen[bytes] | None = None

    @staticmethod
    def available() -> bool:
        return Path(SERVER).exists() and shutil.which("erl") is not None

    def env(self) -> dict[str, str]:
        base = self.workdir
        return {
            **os.environ,
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(base / "mnesia"),
            "RABBITMQ_LOG_BASE": str(base / "log"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(base / "enabled_plugins"),
            "RABBITMQ_CONFIG_FILE": str(base / "rabbitmq.conf"),
        }

    def start(self, timeout_s: float = 60) -> RabbitMq:
        """The node runs as Debian's ``rabbitmq`` user: its folder is outside pytest's private tmp."""
        self.workdir = Path(tempfile.mkdtemp(prefix="cw-rabbit-"))
        self.workdir.chmod(0o755)
        self.port = self.port or free_port(self.host)
        self.dist_port = free_port(self.host)
        for sub in ("mnesia", "log"):
            (self.workdir / sub).mkdir(parents=True, exist_ok=True)
        (self.workdir / "enabled_plugins").write_text("[rabbitmq_mqtt].\n")
        (self.workdir / "rabbitmq.conf").write_text(
            "listeners.tcp = none\n"
            f"mqtt.listeners.tcp.default = {self.host}:{self.port}\n"
            "mqtt.allow_anonymous = false\nloopback_users = none\n"
        )
        subprocess.run(["chown", "-R", "rabbitmq:rabbitmq", str(self.workdir)], check=False)
        self._proc = subprocess.Popen(
            [SERVER], env=self.env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                socket.create_connection((self.host, self.port), timeout=0.5).close()
                return self
            except OSError:
                time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"RabbitMQ did not open MQTT on {self.port} within {timeout_s} s")

    def ctl(self, *args: str) -> str:
        done = subprocess.run([CTL, "-n", self.node, *args], env=self.env(), capture_output=True, text=True,
                              timeout=60, check=True)  # fmt: skip
        return done.stdout

    def run_script(self, script: Path) -> None:
        """A script of rabbitmqctl lines (``casewatch hub acl --broker rabbitmq``) against this node."""
        subprocess.run(["sh", str(script)], env=self.env(), check=True, timeout=120, capture_output=True)

    def stop(self) -> None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            subprocess.run([CTL, "-n", self.node, "stop"], env=self.env(), timeout=60, capture_output=True)
        if self._proc is not None:
            try:
                self._proc.wait(20)
            except subprocess.TimeoutExpired:
                self._proc.kill()
        subprocess.run(["pkill", "-f", f"-sname {self.node}"], check=False, capture_output=True)
        shutil.rmtree(self.workdir, ignore_errors=True)

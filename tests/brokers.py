"""Real MQTT brokers for tests: a Mosquitto process of our own, or the embedded amqtt broker.

Never a broker someone else started: each run gets a fresh process on a free loopback port.
"""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from hub.embedded_broker import EmbeddedBroker, free_port


def mosquitto_binary() -> str | None:
    found = shutil.which("mosquitto")
    if found:
        return found
    for candidate in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto"):
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def wait_for_port(host: str, port: int, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout_s} s")


@dataclass
class Mosquitto:
    """A Mosquitto process on a free port; ``stop``/``start`` to simulate an outage."""

    workdir: Path
    binary: str
    host: str = "127.0.0.1"
    port: int = 0
    kind: str = "mosquitto"
    speaks_v5: bool = True
    auth_file: Path | None = None
    """A mosquitto_passwd file: anonymous clients are then refused."""
    acl_file: Path | None = None
    """A Mosquitto acl_file (``casewatch hub acl``): what each user may publish and read."""
    max_queued: int = 0
    """Messages queued per client while it does not take them (0: no limit); beyond, dropped."""
    _proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Mosquitto:
        self.port = self.port or free_port(self.host)
        conf = self.workdir / "mosquitto.conf"
        auth = (
            f"allow_anonymous false\npassword_file {self.auth_file}\n"
            if self.auth_file
            else "allow_anonymous true\n"
        )
        if self.acl_file:
            auth += f"acl_file {self.acl_file}\n"
        # as root, mosquitto would drop to user "mosquitto", who cannot read pytest's private tmp dirs
        user = f"user {getpass.getuser()}\n"
        conf.write_text(
            f"listener {self.port} {self.host}\n{user}{auth}persistence false\n"
            f"log_dest file {self.workdir / 'mosquitto.log'}\nmax_queued_messages {self.max_queued}\n"
        )
        self._proc = subprocess.Popen(
            [self.binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        try:
            wait_for_port(self.host, self.port)
        except TimeoutError:
            self.stop()
            raise
        return self

    def kill(self) -> None:
        """SIGKILL: the broker dies with whatever it held in memory."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait(5)
        self._proc = None

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(5)
        self._proc = None


@dataclass
class Amqtt:
    """The embedded amqtt broker (MQTT 3.1.1 only), when no mosquitto binary exists."""

    host: str = "127.0.0.1"
    port: int = 0
    kind: str = "amqtt"
    speaks_v5: bool = False
    _broker: EmbeddedBroker | None = None

    def start(self) -> Amqtt:
        self._broker = EmbeddedBroker(self.host, self.port).start()
        self.port = self._broker.port
        return self

    def stop(self) -> None:
        if self._broker is not None:
            self._broker.stop()
            self._broker = None

"""A whole simulated case-handling centre on the real components, for `casewatch demo`.

The hub (with its embedded broker unless one is given) and the agent run as their own processes,
started with the same commands systemd would use, so any of them can be killed and started again
in the middle of a scenario. The devices are simulators on pseudo-terminals held by this process
— a wristband receiver, a dossier cabinet (fingerprint module, Modbus lock board, QR scanner) and
the hub's SMS modem — and the camera is the scene generator, drawn live by the agent from the
scenario file (the ``scene`` camera source plugin), with the real YOLO detector. Everything lives
in one folder:
configs, fresh keys, the hub's store, the agent's outbox, logs.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from casewatch.scenario import Scenario
from casewatch.simulation.scene import INTERROGATION_ZONES
from hub.embedded_broker import free_port
from hub.passwords import hash_password
from protocol.errors import CasewatchError
from protocol.registry import registry_key
from protocol.signing import key_from_text, new_key

Echo = Callable[[str], None]
CENTER = "demo-center"
AGENT = "box-01"
DEMO_USER, DEMO_PASSWORD = "demo", "demo-password"
CASEWATCH = str(Path(sys.executable).parent / "casewatch")
RULES = Path(__file__).resolve().parent.parent / "configs" / "rules"
MARKER = ".casewatch-demo"

ROOMS: list[dict[str, Any]] = [
    {"id": "reg", "name": "登记室", "type": "registration"},
    {"id": "check-1", "name": "人身安全检查室", "type": "safety_check"},
    {"id": "wait-1", "name": "候问室1", "type": "waiting"},
    {"id": "int-1", "name": "讯问室1", "type": "interrogation", "min_officers": 2, "officer_method": "zones"},
    {"id": "corridor", "name": "办案区走廊", "type": "corridor", "min_officers": 0},
    {"id": "dossier-1", "name": "卷宗室", "type": "dossier", "min_officers": 0},
    {"id": "exit", "name": "出口", "type": "exit", "min_officers": 0},
]
ANCHORS = {"1": "reg", "2": "check-1", "3": "wait-1", "4": "int-1", "5": "corridor", "9": "exit"}
CAMERAS = {"cam-int-1": ("int-1", INTERROGATION_ZONES)}
"""The demo centre's cameras: room and zones. A scenario's ``cameras:`` says who is in view."""


class DemoError(CasewatchError):
    """The demo centre could not be set up or a component did not come up."""


@dataclass
class Child:
    """One component as a child process, its output in ``log``."""

    name: str
    argv: list[str]
    log: Path
    ready_line: str
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> Child:
        handle = self.log.open("ab")
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self._offset = self.log.stat().st_size if self.log.exists() else 0
        self.proc = subprocess.Popen(self.argv, stdout=handle, stderr=subprocess.STDOUT, env=env)
        handle.close()
        self.starts += 1
        return self

    def wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise DemoError(f"{self.name} exited with {self.proc.returncode}: see {self.log}")
            with self.log.open("rb") as handle:
                handle.seek(self._offset)
                if self.ready_line.encode() in handle.read():
                    return
            time.sleep(0.2)
        raise DemoError(f"{self.name} did not come up within {timeout_s:.0f} s: see {self.log}")

    def kill(self) -> None:
        """SIGKILL: no clean shutdown, as a power cut or the OOM killer would do it."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self, timeout_s: float = 20.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


@dataclass
class DemoCentre:
    folder: Path
    scenario_file: Path
    scenario: Scenario
    broker: str | None = None
    """``HOST:PORT`` of a broker to use; ``None``: the hub's embedded one."""
    http_port: int | None = None
    epoch_ms: int = 0
    children: dict[str, Child] = field(default_factory=dict)
    sims: dict[str, Any] = field(default_factory=dict)
    modem: Any = None

    @property
    def epoch_file(self) -> Path:
        return self.folder / "epoch"

    def begin(self, epoch_ms: int) -> None:
        """t=0: the scene generator's clock starts (the agent reads this file)."""
        self.epoch_ms = epoch_ms
        partial = self.folder / "epoch.part"
        partial.write_text(str(epoch_ms))
        partial.replace(self.epoch_file)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def mqtt(self) -> tuple[str, int]:
        if self.broker:
            host, _, port = self.broker.rpartition(":")
            return host or "127.0.0.1", int(port)
        return "127.0.0.1", self._broker_port

    # -- setting up -------------------------------------------------------------------------------
    def prepare(self) -> DemoCentre:
        """A fresh folder: keys, simulators on their PTYs, the hub's and the agent's files."""
        from casewatch.simulation.cabinet import CabinetSimulator
        from casewatch.simulation.modem import SimulatedModem
        from casewatch.simulation.wristbands import PtyResponder, WristbandSimulator

        unknown = sorted(set(self.scenario.cameras) - set(CAMERAS))
        if unknown:
            raise DemoError(
                f"the demo centre has no camera {', '.join(unknown)} (it has {', '.join(CAMERAS)})"
            )
        if self.folder.exists() and any(self.folder.iterdir()):
            if not (self.folder / MARKER).is_file():  # never empty a folder the demo did not make
                raise DemoError(
                    f"{self.folder} is not empty and is not a demo folder: choose another --folder"
                )
            shutil.rmtree(self.folder)
        (self.folder / "keys").mkdir(parents=True)
        (self.folder / MARKER).write_text("made by casewatch demo; emptied by the next run\n")
        for name in ("hub", AGENT):
            key = self.folder / "keys" / f"{name}.key"
            key.write_text(new_key())
            key.chmod(0o600)
        registry = self.folder / "keys" / "registry.key"  # what the agent gets: never the hub's own key
        hub_key = key_from_text((self.folder / "keys" / "hub.key").read_text())
        registry.write_text(registry_key(hub_key).decode())
        registry.chmod(0o600)
        shutil.copyfile(self.scenario_file, self.folder / "scenario.yaml")
        self.http_port = self.http_port or free_port()
        self._broker_port = free_port()
        self.sims["wristbands"] = WristbandSimulator()
        self.sims["cabinet"] = CabinetSimulator(slots=4, enrolled={"P1001": 7, "P1002": 8}).start()
        self.modem = SimulatedModem()
        self.sims["modem"] = PtyResponder(self.modem.respond).start()
        self._write_hub()
        self._write_agent()
        logs = self.folder / "logs"
        logs.mkdir()
        self.children["hub"] = Child(
            "hub", [CASEWATCH, "hub", "--config", str(self.folder / "hub.yaml"), "--log-format", "json"],
            logs / "hub.log", "HTTP API on",
        )  # fmt: skip
        self.children["agent"] = Child(
            "agent",
            [CASEWATCH, "agent", "--config", str(self.folder / "center.yaml"), "--log-format", "json"],
            logs / "agent.log", "agent running",
        )  # fmt: skip
        return self

    def _write_hub(self) -> None:
        doc: dict[str, Any] = {
            "center": CENTER,
            "name": "演示执法办案中心",
            "timezone": "Asia/Shanghai",
            "signing": {"key_file": "keys/hub.key"},
            "store": {"path": str(self.folder / "hub" / "hub.db")},
            "agents": [{"id": AGENT, "key_file": f"keys/{AGENT}.key"}],
            "rules": [str(RULES / "*.yaml")],
            "rooms": [{k: r[k] for k in ("id", "name", "type")} for r in ROOMS],
            "http": {"host": "127.0.0.1", "port": self.http_port, "session_secret": secrets.token_hex(16)},
            "users": [
                {
                    "username": DEMO_USER,
                    "display_name": "演示管理员",
                    "role": "admin",
                    "password_hash": hash_password(DEMO_PASSWORD, iterations=100_000),
                },
            ],
            "notify": {"sms": {"port": self.sims["modem"].path}},
            "packages": {"wait_s": 90},
        }
        if self.broker:
            host, port = self.mqtt
            doc["mqtt"] = {"host": host, "port": port, "keepalive_s": 10, "client_id": "casewatch-demo-hub"}
        else:
            doc["embedded_broker"] = {"host": "127.0.0.1", "port": self._broker_port}
        (self.folder / "hub").mkdir()
        (self.folder / "hub.yaml").write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False))

    def _write_agent(self) -> None:
        host, port = self.mqtt
        cabinet = self.sims["cabinet"]
        cameras = [
            {
                "id": camera, "room": room, "name": f"{camera} 全景", "fps": 5,
                "zones": [{"id": z.id, "role": z.role, "polygon": [list(p) for p in z.polygon]}
                          for z in zones],
                "source": {"type": "plugin", "name": "scene",
                           "options": {"scenario": str(self.folder / "scenario.yaml"), "camera": camera,
                                       "epoch_file": str(self.epoch_file)}},
            }
            for camera, (room, zones) in CAMERAS.items()
            if camera in self.scenario.cameras
        ]  # fmt: skip
        doc: dict[str, Any] = {
            "center": CENTER,
            "agent": AGENT,
            "name": "演示执法办案中心",
            "mqtt": {"host": host, "port": port, "keepalive_s": 10},
            "signing": {"key_file": f"keys/{AGENT}.key"},
            "registry_key": {"key_file": "keys/registry.key"},
            "model": {"name": "yolov8n", "format": "onnx", "imgsz": 320, "confidence": 0.4},
            "storage": {"dir": str(self.folder / "agent")},
            "timing": {"condition_start_s": 3, "condition_end_s": 3, "stats_interval_s": 10},
            "vision": {"clip_before_s": 4, "clip_after_s": 4},
            "ops": {"port": 0},
            "rooms": ROOMS,
            "cameras": cameras,
            "devices": [
                {"id": "wb-rx-1", "driver": "wristband-rs485", "port": self.sims["wristbands"].path,
                 "options": {"anchors": {a: {"room": r} for a, r in ANCHORS.items()}, "hold_s": 1,
                             "vitals_interval_s": 10}},
                {"id": "cab-1", "driver": "dossier-cabinet", "room": "dossier-1",
                 "options": cabinet.options(inventory_file=str(self.folder / "agent" / "inventory.json"))},
            ],
        }  # fmt: skip
        if self.scenario.recording:  # the drawn scene encoded to H.264 (docs/recording.md)
            doc["recording"] = {"enabled": True, "segment_s": 2, "encode_fps": 5}
        (self.folder / "center.yaml").write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False))

    # -- running ----------------------------------------------------------------------------------
    def start(self, name: str, timeout_s: float = 90.0) -> None:
        child = self.children[name]
        child.start().wait_ready(timeout_s)

    def kill(self, name: str) -> None:
        self.children[name].kill()

    def close(self) -> None:
        for name in ("agent", "hub"):
            if name in self.children:
                self.children[name].stop()
        for sim in self.sims.values():
            sim.close()

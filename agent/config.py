"""The agent's configuration file (``configs/center-*.yaml``): one edge box of one centre.

Documented key by key in ``docs/configuration.md``; ``casewatch config schema agent`` prints the
JSON Schema for editors.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, ValidationError, ValidationInfo, model_validator

from detectors.config import Camera, ModelSettings, VisionTuning
from detectors.sources import known_source_plugins, source_plugin
from devices.config import Device
from devices.registry import driver, known_drivers
from foundation.configfile import Problem, duplicate_ids, mapping_items
from foundation.secrets import deployment_problems
from foundation.settings import (
    SECRET_FILES,
    AgentId,
    ConfigPath,
    Key,
    MqttSettings,
    Settings,
    SigningKey,
    TimeZone,
)
from protocol.fields import RoomType

OfficerMethod = Literal["zones", "persons_minus_detainees", "tags"]

_STAFFED_BY_DEFAULT = {"interrogation": 2, "inquiry": 2, "safety_check": 1, "toilet": 1}


class Room(Settings):
    id: Key
    name: str = Field(..., min_length=1, max_length=64, description="Shown to operators, e.g. 讯问室1")
    type: RoomType
    min_officers: int | None = Field(
        None,
        ge=0,
        le=10,
        description="Staff required while a detainee is present; default by type.",
    )
    officer_method: OfficerMethod = Field(
        "persons_minus_detainees", description="How officers in the room are counted."
    )
    unattended_exempt: bool = Field(
        False, description="Waiting room with one-way window and live guard (盘问规定 第27条)."
    )
    capacity: int = Field(12, ge=1, le=500, description="More persons than this counted is implausible.")

    def required_officers(self) -> int:
        if self.min_officers is not None:
            return self.min_officers
        return _STAFFED_BY_DEFAULT.get(self.type, 0)


class OutboxSettings(Settings):
    max_events: int = Field(1_000_000, ge=100, le=100_000_000, description="Shed beyond this, routine first.")
    max_age_days: float = Field(
        30, gt=0, le=365, description="Older events are dropped (the hub refuses them)."
    )
    synchronous: Literal["NORMAL", "FULL"] = Field(
        "NORMAL", description="NORMAL survives a killed process; FULL also a power cut, at more disk writes."
    )
    wait_for_hub: bool = Field(
        True,
        description="Publish only while the hub's retained status says online: a broker restarted "
        "without the hub's session would take events nobody receives.",
    )
    receipts: bool = Field(
        True,
        description="Delete an event only when the hub's receipt says it is stored (not on the "
        "broker's PUBACK): no broker crash can lose it. Off only for a hub older than receipts.",
    )
    receipt_timeout_s: float = Field(
        60.0,
        ge=5,
        le=3600,
        description="Publish unconfirmed events again when no receipt came for this long (doubling).",
    )
    max_unconfirmed: int = Field(
        1000,
        ge=10,
        le=100_000,
        description="With receipts: publish at most this many events beyond the last receipt "
        "(keep it under the broker's per-client queue for the hub, Mosquitto's max_queued_messages).",
    )


class OpsSettings(Settings):
    enabled: bool = True
    host: str = Field(
        "127.0.0.1", description="Keep it on loopback: /metrics and /healthz are unauthenticated."
    )
    port: int = Field(9108, ge=0, le=65535, description="0 picks a free port (printed in the log).")


class TimingSettings(Settings):
    stats_interval_s: float = Field(30.0, gt=0, le=3600, description="agent.stats events.")
    heartbeat_interval_s: float = Field(60.0, gt=0, le=3600, description="agent.heartbeat events.")
    condition_start_s: float = Field(
        3.0, ge=0, le=600, description="A condition must hold this long to start."
    )
    condition_end_s: float = Field(5.0, ge=0, le=600, description="…and be gone this long to end.")


class StorageSettings(Settings):
    dir: ConfigPath = Field(..., description="Outbox, snapshots and clips live here.")
    snapshot_retention_days: int = Field(30, ge=1, le=3650)
    upload_evidence: bool = Field(
        True, description="Copy the snapshot at each condition's start and each clip to the hub."
    )
    upload_max_mb: float = Field(32, gt=0, le=256, description="Larger evidence files stay on the box.")


class RecordingSettings(Settings):
    """Continuous recording (agent/recording.py): each camera's stream copied into MP4 segments."""

    enabled: bool = Field(
        False, description="Record every camera continuously with ffmpeg (Debian's); off: clips only."
    )
    dir: ConfigPath | None = Field(
        None, description="Where segments go; default: recordings/ in storage.dir."
    )
    segment_s: int = Field(10, ge=2, le=60, description="Segment length (cut at the next keyframe).")
    keep_days: float = Field(30, gt=0, le=3650, description="Segments older than this are deleted.")
    budget_gb: float = Field(
        500, gt=0, description="All cameras' segments together: the oldest go beyond it."
    )
    min_free_gb: float = Field(
        2, ge=0, description="Below this free space recording pauses (a disk_full gap)."
    )
    encode_fps: float = Field(5, gt=0, le=30, description="Frame rate of sources ffmpeg must encode (files).")
    stall_s: float = Field(30, ge=5, le=600, description="No new video this long: ffmpeg is restarted.")


class AgentConfig(Settings):
    """One edge box of one case-handling centre."""

    center: Key
    agent: AgentId
    name: str | None = Field(None, max_length=64, description="The centre's name, for operators.")
    timezone: TimeZone = "Asia/Shanghai"
    mqtt: MqttSettings = Field(default_factory=MqttSettings)
    signing: SigningKey
    registry_key: SigningKey | None = Field(
        None, description="The hub's key: band registrations are verified with it (absent: none accepted)."
    )
    model: ModelSettings = Field(default_factory=ModelSettings)
    vision: VisionTuning = Field(default_factory=VisionTuning)
    storage: StorageSettings
    recording: RecordingSettings = Field(default_factory=RecordingSettings)
    outbox: OutboxSettings = Field(default_factory=OutboxSettings)
    ops: OpsSettings = Field(default_factory=OpsSettings)
    timing: TimingSettings = Field(default_factory=TimingSettings)
    rooms: list[Room] = Field(..., min_length=1)
    cameras: list[Camera] = Field(default_factory=list)
    devices: list[Device] = Field(default_factory=list)

    def room(self, room_id: str) -> Room:
        return next(r for r in self.rooms if r.id == room_id)

    @model_validator(mode="after")
    def _secrets_handled(self, info: ValidationInfo) -> AgentConfig:
        keys = [("signing", self.signing.verify_keys())]
        if self.registry_key is not None:
            keys.append(("registry_key", self.registry_key.verify_keys()))
        problems = deployment_problems(self.center, (info.context or {}).get(SECRET_FILES, []), keys)
        if problems:
            raise ValueError("; ".join(problems))
        return self


def cross_check(data: dict[str, Any]) -> list[Problem]:
    """Problems no single key shows: duplicate ids, references to rooms that do not exist."""
    problems = duplicate_ids(data, "rooms") + duplicate_ids(data, "cameras") + duplicate_ids(data, "devices")
    rooms = {str(room.get("id")) for _, room in mapping_items(data, "rooms")}
    for index, camera in mapping_items(data, "cameras"):
        if "room" in camera and str(camera["room"]) not in rooms:
            problems.append((("cameras", index, "room"), "no room with this id in rooms", camera["room"]))
        zones = camera.get("zones")
        if isinstance(zones, list):
            problems += [
                (("cameras", index, *path), message, value)
                for path, message, value in duplicate_ids({"zones": zones}, "zones")
            ]
    problems += _camera_plugin_problems(data)
    drivers = known_drivers()
    for index, device in mapping_items(data, "devices"):
        if "driver" in device and device["driver"] not in drivers:
            known = ", ".join(drivers) or "none registered yet"
            problems.append(
                (("devices", index, "driver"), f"unknown driver (known: {known})", device["driver"])
            )
        elif "driver" in device and isinstance(device.get("options", {}), dict):
            try:  # each driver checks its own options
                driver(device["driver"]).Options.model_validate(device.get("options", {}))
            except ValidationError as exc:
                for err in exc.errors(include_url=False):
                    path = ("devices", index, "options", *err["loc"])
                    problems.append((path, err["msg"].removeprefix("Value error, "), err.get("input")))
        if device.get("room") is not None and str(device["room"]) not in rooms:
            problems.append((("devices", index, "room"), "no room with this id in rooms", device["room"]))
    return problems


def _camera_plugin_problems(data: dict[str, Any]) -> list[Problem]:
    """A plugin camera names a plugin registered in this process, with options it accepts."""
    problems: list[Problem] = []
    for index, camera in mapping_items(data, "cameras"):
        source = camera.get("source")
        if not isinstance(source, dict) or source.get("type") != "plugin" or "name" not in source:
            continue
        where = ("cameras", index, "source")
        if source["name"] not in known_source_plugins():
            known = ", ".join(known_source_plugins()) or "none registered in this process"
            message = f"unknown camera source plugin (known: {known})"
            problems.append(((*where, "name"), message, source["name"]))
            continue
        options = source.get("options", {})
        if not isinstance(options, dict):
            continue
        try:
            source_plugin(source["name"]).options.model_validate(options)
        except ValidationError as exc:
            for err in exc.errors(include_url=False):
                problems.append(((*where, "options", *err["loc"]), err["msg"], err.get("input")))
    return problems

"""The catalogue of event kinds: each kind's ``data`` schema, required subject keys and priority.

Kinds are dotted (``band.vitals``); on the wire the dots become topic levels
(``.../events/band/vitals``) so a subscriber can take ``events/band/#``. Priority tells the agent's
outbox what to shed first when it is full: ``routine`` before ``observation`` before ``critical``.
``docs/protocol.md`` shows every kind with the example kept here; a test keeps the two in step.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from protocol.ids import UUID7_PATTERN

KEY_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
MAX_SAFE_INT = 2**53 - 1

Key = Annotated[str, Field(pattern=KEY_PATTERN)]
"""An identifier that is safe as an MQTT topic level: room, zone, camera, band, device, case…"""
Ms = Annotated[int, Field(ge=0, le=MAX_SAFE_INT)]
"""A point in time: milliseconds since the Unix epoch, UTC."""
DurationMs = Annotated[int, Field(ge=0, le=MAX_SAFE_INT)]
Count = Annotated[int, Field(ge=0, le=100_000)]
Ref = Annotated[str, Field(min_length=1, max_length=512)]
"""A reference to stored evidence (a path relative to the agent's evidence root)."""
Text = Annotated[str, Field(max_length=1000)]
Uuid7 = Annotated[str, Field(pattern=UUID7_PATTERN)]
Fraction = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]
Real = Annotated[float, Field(ge=-1e12, le=1e12, allow_inf_nan=False)]

Priority = Literal["critical", "observation", "routine"]
SubjectKey = Literal["room", "zone", "camera", "band", "device", "cabinet", "slot", "case", "dossier"]


class Data(BaseModel):
    """Base of every kind's ``data``: strict types, no unknown fields, immutable."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


# --- cameras ---------------------------------------------------------------------------------

CameraState = Literal["online", "offline", "frozen", "covered", "defocused", "moved"]


class Occupancy(Data):
    """Persons counted in one camera zone changed (after inertia)."""

    count: Count
    previous: Count | None = None
    track_ids: list[Annotated[int, Field(ge=0, le=MAX_SAFE_INT)]] = Field(
        default_factory=list, max_length=1000
    )
    confidence: Fraction | None = None
    since: Ms
    snapshot: Ref | None = None


class CameraHealth(Data):
    """A camera's health changed (watchdog verdict)."""

    state: CameraState
    previous: CameraState | None = None
    since: Ms
    detail: Text | None = None
    fps: Annotated[float, Field(ge=0, le=1000, allow_inf_nan=False)] | None = None
    snapshot: Ref | None = None


class EvidenceClip(Data):
    """A clip around a moment was written and can be fetched from the agent."""

    clip_id: Uuid7
    condition_id: Uuid7 | None = None
    path: Ref
    start: Ms
    end: Ms
    size_bytes: Annotated[int, Field(ge=0, le=MAX_SAFE_INT)]
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


# --- wristbands ------------------------------------------------------------------------------


class BandPosition(Data):
    """A band's resolved zone changed (after hysteresis); ``zone`` null means lost."""

    zone: Key | None = None
    room: Key | None = None
    previous_zone: Key | None = None
    anchor: Key | None = None
    rssi: Annotated[int, Field(ge=-150, le=20)] | None = None
    x: Real | None = None
    y: Real | None = None


class BandVitals(Data):
    """Vital signs from a band, rate-limited by the agent."""

    heart_rate: Annotated[int, Field(ge=0, le=300)] | None = None
    spo2: Annotated[int, Field(ge=0, le=100)] | None = None
    temperature_c: Annotated[float, Field(ge=0, le=60, allow_inf_nan=False)] | None = None


class BandTamper(Data):
    """Strap or magnet state changed."""

    strap_open: bool
    magnet: bool


class BandBattery(Data):
    percent: Annotated[int, Field(ge=0, le=100)]
    millivolts: Annotated[int, Field(ge=0, le=10_000)] | None = None


class BandButton(Data):
    button: Annotated[int, Field(ge=0, le=15)]
    press: Literal["short", "long", "double"]


class BandLink(Data):
    """A band started or stopped being heard by any receiver."""

    state: Literal["online", "offline"]
    last_seen: Ms | None = None


# --- dossier cabinets ------------------------------------------------------------------------

AccessReason = Literal[
    "granted",
    "no_match",
    "not_authorised",
    "second_officer_missing",
    "document_mismatch",
    "slot_busy",
    "timeout",
]


class CabinetAccess(Data):
    """A take/return attempt at a dossier cabinet: fingerprint(s) plus document QR."""

    granted: bool
    reason: AccessReason
    action: Literal["take", "return", "open"] | None = None
    officers: list[Key] = Field(default_factory=list, max_length=4)
    document: Annotated[str, Field(min_length=1, max_length=256)] | None = None
    slot: Key | None = None


class CabinetDoor(Data):
    state: Literal["open", "closed", "held_open", "forced"]
    open_since: Ms | None = None


class CabinetSlot(Data):
    """A slot's occupancy sensor changed; ``scanned`` says whether a scan explained it."""

    state: Literal["in", "out"]
    document: Annotated[str, Field(min_length=1, max_length=256)] | None = None
    scanned: bool


class CabinetScan(Data):
    """A QR/barcode read at a cabinet's scanner (decoded text, duplicates suppressed)."""

    code: Annotated[str, Field(min_length=1, max_length=1024)]


# --- devices and the agent -------------------------------------------------------------------


class DeviceHealth(Data):
    state: Literal["online", "offline"]
    driver: Annotated[str, Field(min_length=1, max_length=64)]
    detail: Text | None = None


class CameraStats(Data):
    fps: Annotated[float, Field(ge=0, le=1000, allow_inf_nan=False)]
    dropped: Count
    queue: Count


class AgentStats(Data):
    """Periodic health of the agent process (published on ``.../stats``)."""

    uptime_s: Annotated[float, Field(ge=0, le=1e10, allow_inf_nan=False)]
    cameras: dict[Key, CameraStats] = Field(default_factory=dict, max_length=256)
    devices: dict[Key, Literal["online", "offline"]] = Field(default_factory=dict, max_length=256)
    detector_ms: Annotated[float, Field(ge=0, le=1e6, allow_inf_nan=False)] | None = None
    outbox_depth: Count
    outbox_oldest_ms: Ms | None = None
    shed: Count = 0


class AgentHeartbeat(Data):
    uptime_s: Annotated[float, Field(ge=0, le=1e10, allow_inf_nan=False)]


# --- conditions (what the agent sees wrong now) ----------------------------------------------

ConditionName = Literal[
    "understaffed",
    "unattended",
    "co_suspects",
    "mixed_sexes",
    "special_group_waiting",
    "coverage_lost",
    "exit_zone",
]


class Facts(Data):
    """The numbers and keys behind a condition, as the agent saw them at the start."""

    persons: Count | None = None
    detainees: Count | None = None
    officers: Count | None = None
    required_officers: Count | None = None
    bands: list[Key] = Field(default_factory=list, max_length=64)
    cases: list[Key] = Field(default_factory=list, max_length=64)
    cameras: list[Key] = Field(default_factory=list, max_length=64)


class Evidence(Data):
    snapshot: Ref | None = None
    clip_id: Uuid7 | None = None
    clip_start: Ms | None = None
    clip_end: Ms | None = None


class ConditionStart(Data):
    condition: ConditionName
    condition_id: Uuid7
    facts: Facts
    evidence: Evidence = Field(default_factory=Evidence)


class ConditionEnd(Data):
    condition: ConditionName
    condition_id: Uuid7
    started: Ms
    duration_ms: DurationMs
    reason: Literal["resolved", "room_empty", "coverage_restored", "agent_restart"] = "resolved"


@dataclass(frozen=True)
class KindSpec:
    """What the contract says about one kind."""

    name: str
    model: type[Data]
    priority: Priority
    subject: tuple[SubjectKey, ...]
    summary: str
    example_subject: dict[str, str]
    example_data: dict[str, Any] = field(default_factory=dict)


_T0 = 1_767_250_000_000  # 2026-01-01T06:46:40Z: example times
_ID = "019b7683-1c80-7a3e-9c4d-5f6a7b8c9d0e"

KINDS: dict[str, KindSpec] = {
    spec.name: spec
    for spec in (
        KindSpec(
            "occupancy",
            Occupancy,
            "observation",
            ("room", "camera", "zone"),
            "Persons in a camera zone changed (after inertia).",
            {"room": "int-1", "camera": "cam-int-1", "zone": "officers"},
            {
                "count": 1,
                "previous": 2,
                "track_ids": [17],
                "confidence": 0.82,
                "since": _T0,
                "snapshot": "snapshots/cam-int-1/20260101T064640Z.jpg",
            },
        ),
        KindSpec(
            "camera.health",
            CameraHealth,
            "critical",
            ("camera",),
            "A camera went online, offline, frozen, covered, defocused or moved.",
            {"camera": "cam-int-1", "room": "int-1"},
            {
                "state": "covered",
                "previous": "online",
                "since": _T0,
                "detail": "mean luma 4/255 for 10 s",
                "fps": 5.0,
            },
        ),
        KindSpec(
            "evidence.clip",
            EvidenceClip,
            "critical",
            ("camera",),
            "A video clip around a moment was written on the agent.",
            {"camera": "cam-int-1", "room": "int-1"},
            {
                "clip_id": _ID,
                "condition_id": _ID,
                "path": "clips/cam-int-1/" + _ID + ".mp4",
                "start": _T0 - 10_000,
                "end": _T0 + 10_000,
                "size_bytes": 1_843_200,
                "sha256": "ab" * 32,
            },
        ),
        KindSpec(
            "band.position",
            BandPosition,
            "observation",
            ("band",),
            "A wristband's zone changed (strongest stable anchor, or UWB x/y in a polygon).",
            {"band": "B0042", "room": "int-1"},
            {
                "zone": "int-1-seat",
                "room": "int-1",
                "previous_zone": "corridor-a",
                "anchor": "A12",
                "rssi": -61,
            },
        ),
        KindSpec(
            "band.vitals",
            BandVitals,
            "routine",
            ("band",),
            "Heart rate, SpO2 and temperature from a wristband (rate-limited).",
            {"band": "B0042"},
            {"heart_rate": 88, "spo2": 97, "temperature_c": 36.6},
        ),
        KindSpec(
            "band.tamper",
            BandTamper,
            "critical",
            ("band",),
            "Strap opened/closed or a magnet was applied.",
            {"band": "B0042"},
            {"strap_open": True, "magnet": False},
        ),
        KindSpec(
            "band.battery",
            BandBattery,
            "observation",
            ("band",),
            "Battery level of a wristband (on change of 5 % or more).",
            {"band": "B0042"},
            {"percent": 18, "millivolts": 3620},
        ),
        KindSpec(
            "band.button",
            BandButton,
            "critical",
            ("band",),
            "The band's call button was pressed.",
            {"band": "B0042"},
            {"button": 0, "press": "long"},
        ),
        KindSpec(
            "band.link",
            BandLink,
            "critical",
            ("band",),
            "A band started or stopped being heard by any receiver.",
            {"band": "B0042"},
            {"state": "offline", "last_seen": _T0 - 30_000},
        ),
        KindSpec(
            "cabinet.access",
            CabinetAccess,
            "critical",
            ("cabinet",),
            "A dossier take/return attempt: fingerprint(s) and document, granted or denied.",
            {"cabinet": "cab-1", "slot": "s07", "case": "A3301020250001"},
            {
                "granted": True,
                "reason": "granted",
                "action": "take",
                "officers": ["P1001", "P1002"],
                "document": "A3301020250001-01",
                "slot": "s07",
            },
        ),
        KindSpec(
            "cabinet.door",
            CabinetDoor,
            "critical",
            ("cabinet",),
            "A cabinet door opened, closed, was held open too long, or was forced.",
            {"cabinet": "cab-1", "slot": "s07"},
            {"state": "held_open", "open_since": _T0 - 125_000},
        ),
        KindSpec(
            "cabinet.slot",
            CabinetSlot,
            "critical",
            ("cabinet", "slot"),
            "A slot's document sensor changed.",
            {"cabinet": "cab-1", "slot": "s07"},
            {"state": "out", "document": "A3301020250001-01", "scanned": True},
        ),
        KindSpec(
            "cabinet.scan",
            CabinetScan,
            "observation",
            ("cabinet",),
            "A QR/barcode was read at a cabinet.",
            {"cabinet": "cab-1"},
            {"code": "A3301020250001-01"},
        ),
        KindSpec(
            "device.health",
            DeviceHealth,
            "critical",
            ("device",),
            "A serial device or gateway went online or offline.",
            {"device": "wb-rx-1"},
            {
                "state": "offline",
                "driver": "wristband-rs485",
                "detail": "port /dev/ttyUSB0 vanished",
            },
        ),
        KindSpec(
            "condition.start",
            ConditionStart,
            "critical",
            ("room",),
            "A violation the agent can see now has started (debounced).",
            {"room": "int-1"},
            {
                "condition": "understaffed",
                "condition_id": _ID,
                "facts": {
                    "persons": 2,
                    "detainees": 1,
                    "officers": 1,
                    "required_officers": 2,
                    "bands": ["B0042"],
                    "cases": ["A3301020250001"],
                    "cameras": ["cam-int-1"],
                },
                "evidence": {
                    "snapshot": "snapshots/cam-int-1/20260101T064640Z.jpg",
                    "clip_id": _ID,
                    "clip_start": _T0 - 10_000,
                    "clip_end": _T0 + 10_000,
                },
            },
        ),
        KindSpec(
            "condition.end",
            ConditionEnd,
            "critical",
            ("room",),
            "A condition the agent raised is over.",
            {"room": "int-1"},
            {
                "condition": "understaffed",
                "condition_id": _ID,
                "started": _T0,
                "duration_ms": 95_000,
                "reason": "resolved",
            },
        ),
        KindSpec(
            "agent.stats",
            AgentStats,
            "routine",
            (),
            "Periodic health of the agent (every 30 s), on the stats topic.",
            {},
            {
                "uptime_s": 3600.5,
                "cameras": {"cam-int-1": {"fps": 5.0, "dropped": 3, "queue": 0}},
                "devices": {"wb-rx-1": "online"},
                "detector_ms": 8.4,
                "outbox_depth": 0,
                "outbox_oldest_ms": None,
                "shed": 0,
            },
        ),
        KindSpec(
            "agent.heartbeat",
            AgentHeartbeat,
            "routine",
            (),
            "The agent is alive (first to be shed when the outbox is full).",
            {},
            {"uptime_s": 60.0},
        ),
    )
}


def spec_for(kind: str) -> KindSpec | None:
    return KINDS.get(kind)

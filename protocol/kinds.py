"""The catalogue of event kinds: each kind's data model, priority, required subject keys, example.

Kinds are dotted (``band.vitals``); on the wire the dots become topic levels
(``.../events/band/vitals``) so a subscriber can take ``events/band/#``. Priority tells the agent's
outbox what to shed first when it is full: ``routine`` before ``observation`` before ``critical``.
``docs/protocol.md`` shows every kind with the example kept here; a test keeps the two in step.
The models themselves are in ``protocol.data``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from protocol.data import (
    AgentHeartbeat,
    AgentStats,
    BandBattery,
    BandButton,
    BandLink,
    BandPosition,
    BandTamper,
    BandVitals,
    CabinetAccess,
    CabinetDoor,
    CabinetScan,
    CabinetSlot,
    CameraHealth,
    ConditionEnd,
    ConditionStart,
    Data,
    DeviceHealth,
    EvidenceClip,
    Occupancy,
    RecordingGap,
    RecordingSegments,
    RecordingState,
)

Priority = Literal["critical", "observation", "routine"]
SubjectKey = Literal["room", "zone", "camera", "band", "device", "cabinet", "slot", "case", "dossier"]


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
            "recording.gap",
            RecordingGap,
            "critical",
            ("camera",),
            "A camera's continuous recording has a hole (segments missing between start and end).",
            {"camera": "cam-int-1", "room": "int-1"},
            {
                "start": _T0 - 20_000,
                "end": _T0,
                "reason": "stream_lost",
                "detail": "no new segment for 30 s; ffmpeg restarted",
            },
        ),
        KindSpec(
            "recording.state",
            RecordingState,
            "critical",
            ("camera",),
            "A camera's continuous recording began (first segment written) or stopped.",
            {"camera": "cam-int-1", "room": "int-1"},
            {"state": "recording", "since": _T0, "segment_s": 10},
        ),
        KindSpec(
            "recording.segments",
            RecordingSegments,
            "critical",
            ("camera",),
            "The segments an agent holds for one range of the hub's fetch request (sent as files).",
            {"camera": "cam-int-1", "room": "int-1"},
            {
                "request": _ID + "-1",
                "start": _T0 - 20_000,
                "end": _T0,
                "segments": [
                    {
                        "name": "1767249980.mp4",
                        "start": _T0 - 20_000,
                        "end": _T0 - 10_000,
                        "size": 2_100_000,
                        "sha256": "ab" * 32,
                    },
                ],
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
            "A cabinet door opened, closed, was held open too long, or was forced. `reconciled: true`: "
            "found on the first board reading after an agent restart or a board outage (it happened "
            "while nobody looked; its time is when it was found).",
            {"cabinet": "cab-1", "slot": "s07"},
            {"state": "held_open", "open_since": _T0 - 125_000},
        ),
        KindSpec(
            "cabinet.slot",
            CabinetSlot,
            "critical",
            ("cabinet", "slot"),
            "A slot's document sensor changed. `scanned: true` when a grant (fingerprint + QR) explains "
            "it. `reconciled: true`: found on the first board reading after an agent restart or a "
            "board outage, by comparing with the state the agent kept — the cabinet's inventory "
            "follows the board.",
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

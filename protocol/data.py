"""The ``data`` schema of every event kind: strict, closed, immutable pydantic models.

Which kind uses which model, with its priority, subject keys and documented example, is the
catalogue in ``protocol.kinds``.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from protocol.fields import (
    MAX_SAFE_INT,
    Count,
    DurationMs,
    Fraction,
    Key,
    Ms,
    Real,
    Ref,
    Text,
    Uuid7,
)


class Data(BaseModel):
    """Base of every kind's ``data``: strict types, no unknown fields, immutable."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


# --- cameras ---------------------------------------------------------------------------------

EndReason = Literal["resolved", "room_empty", "coverage_restored", "agent_restart", "source_ended"]
"""why a condition ended; ``source_ended``: the room's file cameras were read to their end"""
CameraState = Literal["online", "offline", "frozen", "covered", "defocused", "moved", "ended"]
"""``ended``: a file source with ``loop: false`` was read to its end — not a fault, no coverage alarm"""


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


RecordingGapReason = Literal["recorder_exited", "stream_lost", "disk_full", "agent_down", "unknown"]
"""Why a camera's continuous recording has a hole: ffmpeg ended, the stream stopped delivering,
the recording disk was full, the agent itself was not running, or the recorder cannot tell."""


class RecordingGap(Data):
    """A camera's continuous recording missed ``start``–``end`` (the next segment began at ``end``)."""

    start: Ms
    end: Ms
    reason: RecordingGapReason
    detail: Text | None = None


class RecordingState(Data):
    """A camera's continuous recording began (its first segment is written) or stopped (the agent
    shut down or recording was switched off): with ``recording.gap`` the hub knows when a camera
    was on record, and tells a hole from a camera that was never recorded."""

    state: Literal["recording", "stopped"]
    since: Ms
    segment_s: Annotated[int, Field(ge=1, le=600)] | None = None


class SegmentInfo(Data):
    """One stored segment: its file name (``{unix s}.mp4``), the time it covers, its bytes' digest."""

    name: Annotated[str, Field(pattern=r"^[0-9]{9,11}\.mp4$")]
    start: Ms
    end: Ms
    size: Annotated[int, Field(ge=1, le=MAX_SAFE_INT)]
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class RecordingSegments(Data):
    """The agent's answer to one range of a hub's fetch request (protocol/fetch.py): the segments it
    holds overlapping ``start``–``end``, each also sent as the file ``segments/{camera}/{name}``.
    An empty list: nothing recorded then (or already deleted by retention)."""

    request: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,95}$")]
    start: Ms
    end: Ms
    segments: list[SegmentInfo] = Field(default_factory=list, max_length=400)


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
    "slot_empty",
    "board_offline",
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
    reconciled: Literal[True] | None = None
    """True: seen on the first board reading after a restart or an outage (happened unobserved)"""


class CabinetSlot(Data):
    """A slot's occupancy sensor changed; ``scanned`` says whether a scan explained it."""

    state: Literal["in", "out"]
    document: Annotated[str, Field(min_length=1, max_length=256)] | None = None
    scanned: bool
    reconciled: Literal[True] | None = None
    """True: found on the first board reading after a restart or an outage, not seen happen"""


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
    outbox_first_seq: Annotated[int, Field(ge=1, le=MAX_SAFE_INT)] | None = None
    """The lowest seq the outbox (of the envelope's epoch) still holds, or its next seq when empty:
    every seq below it is confirmed stored or was shed. Lets the hub move past a hole that will
    never be filled, so its receipts can go on (docs/protocol.md "Receipts")."""


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
    "minor_unaccompanied",
]


class Facts(Data):
    """The numbers and keys behind a condition, as the agent saw them at the start. ``bands``: the
    detainees' bands in the room; ``cases``: their cases from the hub's registry (for
    ``co_suspects``: the cases two of them share), so the alert reaches those cases' officers."""

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
    reason: EndReason = "resolved"

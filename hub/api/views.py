"""Response models of the HTTP API: what each route answers, built on the domain (``hub.domain``).

Routes declare these (``response_model=`` or their return type), so ``/api/v1/openapi.json``
describes every answer; tests/test_api_schema.py fails on a route that does not. Like the domain
models they keep fields they do not name (``extra="allow"``), and routes answer with
``response_model_exclude_unset=True``: a field the answer lacks stays out, never ``null``.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import Field

from hub.alerts import AlertState
from hub.api.auth import Role
from hub.domain import (
    Alert,
    BandBinding,
    Cabinet,
    Camera,
    Case,
    Dossier,
    Person,
    ReadModel,
    SlotState,
)
from hub.notify.policy import Channel
from hub.records import Procedure
from hub.reports import PeriodKind
from hub.rules.levels import Level
from hub.rules.spec import Shape
from protocol.data import AccessReason, ConditionName
from protocol.fields import RoomType

LevelZh = Literal["绿", "蓝", "黄", "橙", "红"]
"""``hub.rules.levels.CHINESE``: the level's Chinese name."""
CareRecordType = Literal[
    "safety_check",
    "info_collection",
    "belongings_stored",
    "belongings_returned",
    "meal",
    "rest_start",
    "rest_end",
    "health_check",
]
"""``hub.records.Record.type``."""
ApprovalType = Literal["extension", "leave_area", "exemption", "borrow_extension"]
"""``hub.records.Approval.type``."""
TransitionAction = Literal[
    "raise",
    "level",
    "clear",
    "correction",
    "escalate",
    "acknowledge",
    "assign",
    "rectify",
    "verify",
    "reject",
    "close",
    "comment",
]
"""The book's own moves (``hub.alerts.AlertBook``) and people's actions (``hub.alerts.Action``)."""
NotificationState = Literal["pending", "sent", "failed", "suppressed"]


# session -------------------------------------------------------------------------------------
class Me(ReadModel):
    """Who the token or credential belongs to."""

    username: str
    role: Role
    display_name: str


# custody -------------------------------------------------------------------------------------
class Timer(ReadModel):
    """An open deadline of a ``custody-time`` rule: started, limit, next due, highest level."""

    rule: str
    started: int
    limit_ms: int
    due_ms: int | None
    level: Level | None = Field(description="The highest level reached so far (null: none yet).")


class PersonInCustody(Person):
    """A person with the custody-time deadlines running for them."""

    timers: list[Timer]


class PersonDetail(Person):
    """A person with the alerts about them (newest first, at most 100)."""

    alerts: list[Alert]


class ArrivalStep(ReadModel):
    """Timeline: the arrival (the intake's ``arrived``)."""

    type: Literal["arrival"]
    ts: int
    procedure: Procedure


class CareStep(ReadModel):
    """Timeline: a record of care (safety check, meal, rest, …)."""

    type: CareRecordType
    ts: int
    by: str
    note: str


class ApprovalStep(ReadModel):
    """Timeline: an approval on record."""

    type: Literal["approval"]
    ts: int
    by: str
    approval: ApprovalType
    hours: float | None
    approved_by: str


class BandStep(ReadModel):
    """Timeline: a band bound to or taken from the person."""

    type: Literal["band_bind", "band_unbind"]
    ts: int
    by: str
    band: str


class ReleaseStep(ReadModel):
    """Timeline: the release."""

    type: Literal["release"]
    ts: int
    by: str
    reason: str
    family_pickup: bool


class RoomStep(ReadModel):
    """Timeline: a stay in a room, with the staff present during it (by name)."""

    type: Literal["room"]
    ts: int = Field(description="When the person's band was first seen there.")
    room: str
    room_name: str
    left: int | None
    staff: list[str]


class AlertStep(ReadModel):
    """Timeline: an alert about the person."""

    type: Literal["alert"]
    ts: int = Field(description="When the alert was opened.")
    alert: str
    rule: str
    level: Level
    title: str
    state: AlertState


TimelineStep = Annotated[
    ArrivalStep | CareStep | ApprovalStep | BandStep | ReleaseStep | RoomStep | AlertStep,
    Field(discriminator="type"),
]


class PersonTimeline(ReadModel):
    """The person's electronic trajectory (全程电子轨迹): their bands and the ordered steps."""

    person: Person
    bands: list[str] = Field(description="Bands the person wore during this stay.")
    steps: list[TimelineStep]


class BandView(BandBinding):
    """A bound band with the room it was last seen in."""

    room: str | None
    seen_ms: int | None


# registry ------------------------------------------------------------------------------------
class CaseDetail(Case):
    """A case with its dossiers and its alerts (newest first, at most 100)."""

    dossiers: list[Dossier]
    alerts: list[Alert]


class DossierView(Dossier):
    """A dossier with the level of its open DOSSIER-OVERDUE alert, if any."""

    overdue: Level | None


class AccessMove(ReadModel):
    """A take, return or open attempt with the dossier at a cabinet (``cabinet.access`` data)."""

    kind: Literal["cabinet.access"]
    pos: int
    ts: int
    cabinet: str | None
    granted: bool
    reason: AccessReason
    action: Literal["take", "return", "open"] | None = None
    officers: list[str] = Field(default_factory=list)
    document: str | None = None
    slot: str | None = None


class SlotMove(ReadModel):
    """The dossier's slot sensor changed (``cabinet.slot`` data)."""

    kind: Literal["cabinet.slot"]
    pos: int
    ts: int
    cabinet: str | None
    state: SlotState
    document: str | None = None
    scanned: bool


DossierMove = Annotated[AccessMove | SlotMove, Field(discriminator="kind")]


class DossierHistory(Dossier):
    """A dossier with every take, return and slot change from the log, oldest first."""

    moves: list[DossierMove]


class CabinetView(Cabinet):
    """A cabinet with its doors not closed and the dossiers in it."""

    open_doors: list[str]
    dossiers_in: list[str]


class CabinetDenial(ReadModel):
    """A refused cabinet access: who, which document, why."""

    pos: int
    ts: int
    cabinet: str | None
    reason: AccessReason
    officers: list[str]
    document: str | None
    slot: str | None


class RoomView(ReadModel):
    """A configured room now: persons, zones, open conditions, who is there, the worst alert."""

    id: str
    name: str
    type: RoomType
    persons: int = Field(description="The fullest camera's count of persons.")
    zones: dict[str, int] = Field(description="``{camera}/{zone}`` → persons counted there.")
    updated: int | None
    conditions: list[ConditionName] = Field(description="The agent's open conditions here.")
    detainees: list[str] = Field(description="Persons whose detainee bands were last seen here.")
    staff_bands: list[str] = Field(description="Officer and auxiliary bands last seen here.")
    worst_level: Level | None = Field(description="The highest level of the room's open alerts.")


class CameraView(Camera):
    """A camera's health, and whether (and when) the hub has its latest snapshot."""

    has_snapshot: bool
    snapshot_ms: int | None


# alerts --------------------------------------------------------------------------------------
class AlertView(Alert):
    """An alert as the API and MQTT show it: with its rule's title, legal basis and level name."""

    title: str
    basis: str
    level_zh: LevelZh


class EvidenceRefs(ReadModel):
    """What an agent's event names as its evidence (``protocol.data.Evidence``)."""

    snapshot: str | None = None
    clip_id: str | None = None
    clip_start: int | None = None
    clip_end: int | None = None


class EvidenceFile(ReadModel):
    """An evidence file an event names, and where the hub keeps it (null: not received yet)."""

    kind: Literal["snapshot", "clip"]
    agent: str
    named: str
    path: str | None
    url: str | None


class AlertEvidence(ReadModel):
    """A logged fact behind an alert, with its evidence files and its hash in the chain."""

    pos: int
    kind: str | None
    ts: int | None
    agent: str | None
    source: str | None
    subject: dict[str, str] | None
    evidence: EvidenceRefs | None
    files: list[EvidenceFile]
    hash: str


class AlertPicture(ReadModel):
    """A camera snapshot the hub kept when the alert was raised (``…/pictures/{name}``)."""

    name: str
    camera: str
    received_ms: int
    bytes: int


class AlertTransition(ReadModel):
    """One step of an alert's history: who did what, when, and the state and level after it."""

    alert: str
    at_ms: int
    by: str
    action: TransitionAction
    state: AlertState
    level: Level
    comment: str
    late: bool
    assignee: str | None


class Notification(ReadModel):
    """A notification of an alert and its delivery state (an SMS number shows its last 4 digits)."""

    id: int
    dedupe: str
    alert: str
    level: Level
    reason: str
    channel: Channel
    recipient: str
    role: str
    target: str
    body: str
    state: NotificationState
    detail: str
    attempts: int
    created_ms: int
    updated_ms: int
    next_ms: int | None


class AlertDetail(AlertView):
    """An alert with its evidence, kept pictures, transitions and notifications."""

    evidence: list[AlertEvidence]
    pictures: list[AlertPicture]
    history: list[AlertTransition]
    notifications: list[Notification]


class NotificationAttempt(ReadModel):
    """One delivery attempt."""

    at_ms: int
    ok: bool
    detail: str


class NotificationView(Notification):
    """A notification with every delivery attempt."""

    tries: list[NotificationAttempt]


# the log and the hub's health ----------------------------------------------------------------
class HealthFault(ReadModel):
    """What holds the ingest: the failed stage, why, since when, how many tries."""

    stage: Literal["commit", "save"]
    reason: str
    since_ms: int
    attempts: int


class StoreHead(ReadModel):
    """The log's head and how far the rules have read it."""

    head_pos: int
    rules_pos: int


class IngestCounters(ReadModel):
    """The ingest thread's counters since the hub started."""

    batches: int
    stored: int
    store_errors: int
    save_errors: int
    stalls: int
    receipts: int
    commit_ms_max: float


class Health(ReadModel):
    """Is the hub up, connected and committing."""

    status: Literal["ok", "degraded"]
    center: str
    broker_connected: bool
    ingest_running: bool
    fault: HealthFault | None
    store: StoreHead
    ingest: IngestCounters
    rules: int = Field(description="Rules in force.")
    now_ms: int


class AlertCounts(ReadModel):
    """Alerts not closed, by level and by state."""

    by_level: dict[Level, int]
    by_state: dict[AlertState, int]


class AgentFileCounts(ReadModel):
    """Agents' evidence files received since the hub started."""

    files_stored: int
    files_rejected: int
    files_errors: int


class Status(ReadModel):
    """Counts for a dashboard."""

    alerts_open: AlertCounts
    quarantine: dict[str, int] = Field(description="Refused messages by reason code.")
    notifications: dict[NotificationState, int]
    in_custody: int
    agent_files: AgentFileCounts


class EventEnvelope(ReadModel):
    """A logged event as signed: an agent's event (docs/protocol.md) or a hub record (``agent`` hub)."""

    v: int
    id: str
    seq: int
    epoch: str | None = None
    ts: int
    center: str
    agent: str
    source: str
    kind: str
    subject: dict[str, str]
    data: dict[str, Any] = Field(description="The kind's data (protocol.data, hub.records).")
    sig: str


class LoggedEvent(ReadModel):
    """An event in the hash-chained log: its position, arrival, hash and the event itself."""

    pos: int
    received_ms: int
    hash: str
    event: EventEnvelope


class QuarantineEntry(ReadModel):
    """A refused message: why, from where, and its first 512 bytes as hex."""

    id: int
    received_ms: int
    topic: str | None
    code: str
    reason: str
    agent: str | None
    size: int
    raw_hex: str


# reports -------------------------------------------------------------------------------------
class ReportFile(ReadModel):
    """A report file the schedule wrote."""

    name: str
    bytes: int
    modified_ms: int


class ReportPeriod(ReadModel):
    """The day, ISO week or month a report covers (``end`` exclusive)."""

    kind: PeriodKind
    start: date
    end: date
    label: str


class RuleCount(ReadModel):
    """Alerts of one rule."""

    rule: str
    title: str
    count: int


class RoomCount(ReadModel):
    """Alerts in one room (by name; ``—`` when none)."""

    room: str
    count: int


class OfficerCount(ReadModel):
    """Alerts attributed to one officer (by name)."""

    officer: str
    count: int


class UnitRank(ReadModel):
    """A unit's alerts, tickets and tickets rectified late, and its place in the ranking."""

    unit: str
    count: int
    tickets: int
    late: int
    rank: int


class ReportDay(ReadModel):
    """Alerts opened on one day, by highest level reached."""

    day: date
    green: int
    blue: int
    yellow: int
    orange: int
    red: int


class ReportView(ReadModel):
    """A supervision report (日巡查、周复盘、月调度) as JSON."""

    period: ReportPeriod
    generated_ms: int
    total: int
    by_level: dict[Level, int]
    by_rule: list[RuleCount]
    by_room: list[RoomCount]
    by_unit: list[UnitRank]
    by_officer: list[OfficerCount]
    trend: list[ReportDay]
    tickets: int
    tickets_due: int
    rectified_in_48h: int
    rectified_rate: float | None
    ack_median_min: float | None
    ack_p90_min: float | None


# admin ---------------------------------------------------------------------------------------
class UserView(ReadModel):
    """A console account as the admin page shows it (never the password hash)."""

    username: str
    display_name: str | None
    role: Role
    disabled: bool
    source: Literal["file", "console"] = Field(description="The hub file (read-only) or the console.")
    updated_ms: int | None
    updated_by: str | None


class RuleStageView(ReadModel):
    """One level of a rule and its thresholds (ms after the start, fraction of the limit, count)."""

    level: Level
    after_ms: int | None
    at: float | None
    count: int | None


class RuleBaseline(ReadModel):
    """What the rule file itself says (before any console change)."""

    enabled: bool
    limit_ms: int | None
    stages: list[RuleStageView]


class RuleView(ReadModel):
    """A rule now, as its file says, and whether a console change is laid over it."""

    id: str
    title: str
    basis: str
    shape: Shape
    enabled: bool
    limit_ms: int | None
    stages: list[RuleStageView]
    file: RuleBaseline
    overridden: bool
    tags: list[str]


# answers that are not JSON -------------------------------------------------------------------
BINARY: dict[str, Any] = {"schema": {"type": "string", "format": "binary"}}
TEXT: dict[str, Any] = {"schema": {"type": "string"}}


def media(binary: tuple[str, ...] = (), text: tuple[str, ...] = ()) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a 200 that is not JSON: the media types it may have, each a string."""
    content = {**{m: BINARY for m in binary}, **{m: TEXT for m in text}}
    return {200: {"content": content}}

"""The log, the quarantine and the hub's health and status."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from hub.alerts import AlertState
from hub.api.views.alerts import NotificationState
from hub.domain import (
    ReadModel,
)
from hub.rules.levels import Level


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
    quarantine: dict[str, int] = Field(description="Refused messages kept, by reason code.")
    quarantine_pruned: int = Field(
        0, description="Refused messages dropped, oldest first, past ingest.quarantine_max_rows."
    )
    notifications: dict[NotificationState, int]
    in_custody: int
    agent_files: AgentFileCounts
    snapshots: dict[str, int] = Field(
        description="Cameras' pictures since the hub started: kept, refused (unsigned, unknown agent, "
        "wrong camera), stale (not newer than the one kept), full."
    )


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

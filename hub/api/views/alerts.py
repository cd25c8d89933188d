"""Alerts with their evidence, transitions and notifications."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from hub.alerts import AlertState
from hub.domain import (
    Alert,
    ReadModel,
)
from hub.notify.policy import Channel
from hub.rules.levels import Level

LevelZh = Literal["绿", "蓝", "黄", "橙", "红"]
"""``hub.rules.levels.CHINESE``: the level's Chinese name."""
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
    """A camera snapshot the hub kept when the alert was raised (``…/pictures/{name}``): only a
    picture signed by the camera's own agent."""

    name: str
    camera: str
    received_ms: int = Field(description="When the camera's agent took the picture (its signed ts).")
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

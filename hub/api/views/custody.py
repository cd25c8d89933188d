"""People in custody, their bands and timelines; who is logged in."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from hub.alerts import AlertState
from hub.api.auth import Role
from hub.domain import (
    Alert,
    BandBinding,
    Person,
    ReadModel,
)
from hub.records import ApprovalType, CareRecordType, Procedure
from hub.rules.levels import Level


class Me(ReadModel):
    """Who the token or credential belongs to."""

    username: str
    role: Role
    display_name: str


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

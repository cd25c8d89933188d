"""The centre's reference data: cases, dossiers, cabinets, rooms, cameras."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from hub.domain import (
    Alert,
    Cabinet,
    Camera,
    Case,
    Dossier,
    ReadModel,
    SlotState,
)
from hub.rules.levels import Level
from protocol.data import AccessReason, ConditionName
from protocol.fields import RoomType


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


class WatchReply(ReadModel):
    """A watch registered: the agent asked for the camera's pictures often, for ``seconds``."""

    camera: str
    agent: str
    seconds: int

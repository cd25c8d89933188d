"""The hub's domain, typed: what the projections (``hub.projections``) hold and the API shows.

The projections keep plain JSON documents (they are stored as such and rebuilt from the log);
these models say what is in them, field by field, for the API's response models
(``hub.api.views``) and its OpenAPI document. They are read models: ``extra="allow"`` keeps any
field a projection holds that is not named here, so a response never drops one; a field a
document may lack has a default (the API leaves it out rather than sending ``null``).
Literal types repeat sets defined where the data is validated (``hub.records``,
``protocol.data``); tests/test_api_schema.py checks that they still match.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from hub.alerts import AlertState
from hub.records import BandRole, Procedure, StaffRole
from hub.rules.levels import Level
from protocol.data import CameraState, ConditionName
from protocol.fields import Ms, RoomType

Sex = Literal["male", "female"]
DoorState = Literal["open", "closed", "held_open", "forced"]
"""``protocol.data.CabinetDoor.state``."""
SlotState = Literal["in", "out"]
"""``protocol.data.CabinetSlot.state``: the dossier is in its slot, or taken out."""
DeviceState = Literal["online", "offline"]
"""``protocol.data.DeviceHealth.state``."""


class ReadModel(BaseModel):
    """Base of the read models: fields not named here are kept, never dropped."""

    model_config = ConfigDict(extra="allow")


class Flags(ReadModel):
    """A person's risk flags, set at intake (they reach the agents in band registrations)."""

    minor: bool
    special_group: bool
    high_risk: bool
    intoxicated: bool


class PersonRelease(ReadModel):
    """How a person left the centre (``hub.records.Release``)."""

    reason: str = ""
    family_pickup: bool = False
    belongings_left: list[dict[str, Any]] | None = Field(
        None, description="What the belongings ledger still held at the release: `locker`, `items`."
    )


class Person(ReadModel):
    """A registered person: the intake record's fields, flags, bands worn now, and the release."""

    id: str
    procedure: Procedure
    arrived: Ms
    name: str
    sex: Sex
    id_number: str | None = None
    case: str | None = None
    note: str = ""
    flags: Flags
    released: Ms | None = Field(description="When the person was released; null while in custody.")
    release: PersonRelease | None = Field(None, description="The release record's data, once released.")
    bands: list[str] = Field(description="Bands bound to the person now.")


class BandBinding(ReadModel):
    """A wristband bound now: to whom (a person or an officer), in which role, since when."""

    band: str
    role: BandRole
    person: str | None
    officer: str | None
    since: Ms


class Officer(ReadModel):
    """A registered officer (民警/辅警): the ``officer.register`` record's fields and its key."""

    id: str
    name: str
    sex: Sex
    unit: str
    police: bool = True
    phone: str | None = None
    roles: list[StaffRole] = Field(default_factory=lambda: list[StaffRole](["officer"]))
    fingerprint_pages: list[int] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    active: bool = True


class Case(ReadModel):
    """An accepted case (受案): when, its title, unit and handling officers."""

    id: str
    accepted: Ms
    title: str = ""
    unit: str | None = None
    officers: list[str] = Field(default_factory=list)


class DossierAccess(ReadModel):
    """A granted take or return of a dossier at a cabinet: who, where, when."""

    action: Literal["take", "return"]
    officers: list[str]
    cabinet: str | None
    slot: str | None
    ts: Ms


class Dossier(ReadModel):
    """A dossier (卷宗, ``{case}-{nn}``): its case, its cabinet slot and state, its last move."""

    id: str
    case: str | None
    # from the cabinet's slot sensor: a dossier known only from an access has none of these yet
    cabinet: str | None = None
    slot: str | None = None
    state: SlotState | None = None
    since: Ms | None = Field(None, description="When the slot sensor last changed.")
    scanned: bool | None = Field(None, description="Whether a scan explained that change.")
    last_access: DossierAccess | None = None


class CabinetDoor(ReadModel):
    """One cabinet door's last reported state and since when."""

    state: DoorState
    since: Ms


class Cabinet(ReadModel):
    """A dossier cabinet and its doors (``door`` when the cabinet reports no slot)."""

    id: str
    doors: dict[str, CabinetDoor]


class RoomState(ReadModel):
    """A room now: persons counted per camera zone, their total, and the agent's open conditions."""

    id: str
    zones: dict[str, int] = Field(description="``{camera}/{zone}`` → persons counted there.")
    conditions: dict[str, ConditionName] = Field(description="Open conditions: condition id → name.")
    persons: int | None = Field(None, description="The fullest camera's count (after an occupancy).")
    updated: Ms | None = None


class Camera(ReadModel):
    """A camera's health as its agent last reported it."""

    id: str
    state: CameraState
    since: Ms | None = None
    detail: str | None = None
    snapshot: str | None = Field(None, description="The agent's evidence path of its snapshot.")
    agent: str | None = Field(None, description="The camera's owner: the first agent that reported it.")
    room: str | None = Field(None, description="The room its agent says it watches.")
    contested_by: str | None = Field(
        None, description="Another agent that reported this camera too (ignored: a misconfiguration?)."
    )
    recording: dict[str, Any] | None = Field(
        None, description="Continuous recording: `state` (recording, stopped) and `since` (recording.state)."
    )
    last_gap: dict[str, Any] | None = Field(
        None, description="The last hole in its recording: `start`, `end`, `reason` (recording.gap)."
    )


class Device(ReadModel):
    """A serial device or gateway's health as its agent last reported it."""

    id: str
    state: DeviceState
    driver: str
    detail: str | None
    since: Ms
    agent: str


class AlertContext(ReadModel):
    """Where and whom an alert is about: the fact's keys (``hub.rules.facts.CONTEXT_KEYS``)."""

    room: str | None = None
    room_type: RoomType | None = None
    band: str | None = None
    person: str | None = None
    case: str | None = None
    dossier: str | None = None
    cabinet: str | None = None
    slot: str | None = None
    camera: str | None = None
    device: str | None = None
    agent: str | None = None
    role: BandRole | None = None
    sex: Sex | None = None
    procedure: Procedure | None = None
    persons: list[str] | None = Field(None, description="A room condition's detainees (all of them).")
    cases: list[str] | None = Field(None, description="A room condition's cases (all of them).")
    condition: ConditionName | None = None
    finding: str | None = Field(None, description="A manual finding's id (rule MANUAL).")
    item: str | None = Field(None, description="A manual finding's risk item (catalogue id).")
    item_title: str | None = Field(None, description="The item's title when it was raised.")
    officers: list[str] | None = Field(None, description="A manual finding's responsible officers.")
    unit: str | None = Field(None, description="A manual finding's responsible unit.")
    note: str | None = Field(None, description="The operator's comment on a manual finding.")


class Alert(ReadModel):
    """An alert as stored (``hub.alerts.Alert``): its rule, key, level, state in the loop, times."""

    id: str
    rule: str
    key: list[str]
    level: Level
    state: AlertState
    opened_ms: int
    updated_ms: int
    active: bool
    reached: dict[Level, int] = Field(description="Level → when it was reached.")
    cleared_ms: int | None
    late: bool
    assignee: str | None
    corrections: int
    escalations: int
    escalate_from_ms: int
    context: AlertContext
    events: list[int] = Field(description="Store positions of the facts behind it (its evidence).")
    ticket: bool = Field(False, description="A rectification ticket at any level (manual findings).")

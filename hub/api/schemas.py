"""Request bodies of the HTTP API. Record data reuses ``hub.records`` models, so the API and
the log validate the same fields; an unknown field is refused (HTTP 422), never ignored."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from hub.records import (
    AlertAction,
    Approval,
    BandBind,
    BandUnbind,
    CareRecordType,
    CaseAccept,
    Intake,
    Item,
    Officer,
    PatrolRound,
    PlanLayout,
)
from protocol.fields import Key, Ms


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoginBody(_Body):
    username: Annotated[str, Field(min_length=1, max_length=64)]
    password: Annotated[str, Field(min_length=1, max_length=256)]


class IntakeBody(Intake):
    id: Key | None = Field(None, description="The person's key; the hub makes one when absent.")


class ReleaseBody(_Body):
    reason: Annotated[str, Field(max_length=500)] = ""
    family_pickup: bool = False
    confirm_belongings_left: bool = Field(
        False, description="Release although the belongings ledger still holds items (they are named in the "
        "record and raise BELONGINGS-FORGOTTEN); without it such a release is refused with 409.",
    )  # fmt: skip
    at: Ms | None = Field(None, description="When it happened (ms UTC); default now.")


class RecordBody(_Body):
    type: CareRecordType
    note: Annotated[str, Field(max_length=500)] = ""
    locker: Key | None = Field(None, description="Belongings: the locker (储物柜) the items went into.")
    items: list[Item] = Field(
        default_factory=list, max_length=30, description="Belongings: what was stored or handed back."
    )
    camera: Key | None = Field(None, description="Belongings stored: keep this camera's current picture.")
    at: Ms | None = Field(None, description="When it happened (ms UTC); default now.")


class BindBody(BandBind):
    person: Key | None = Field(None, description="For detainee, visitor and guardian bands.")
    at: Ms | None = Field(None, description="When it happened (ms UTC); default now.")


class UnbindBody(BandUnbind):
    at: Ms | None = Field(None, description="When it happened (ms UTC); default now.")


class ApprovalBody(Approval):
    person: Key | None = None
    case: Key | None = None
    dossier: Key | None = None
    at: Ms | None = Field(None, description="When it was approved (ms UTC); default now.")


class CaseBody(CaseAccept):
    id: Key
    at: Ms | None = Field(None, description="Acceptance time (ms UTC); default now.")


class PatrolRoundBody(PatrolRound):
    pass


class FindingBody(_Body):
    """A reminder raised by hand: what (a catalogue item), how serious, where, whom, who must act."""

    item: Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9-]{1,40}$")]
    level: Literal["green", "blue", "yellow", "orange", "red"]
    room: Key | None = None
    camera: Key | None = None
    person: Key | None = None
    officers: list[Key] = Field(default_factory=list, max_length=8)
    unit: Key | None = None
    comment: Annotated[str, Field(max_length=500)] = ""
    picture: bool = Field(True, description="Attach the camera's current picture as evidence.")


class PlanLayoutBody(PlanLayout):
    pass


class OfficerBody(Officer):
    pass


class ActionBody(AlertAction):
    pass


class Created(BaseModel):
    """What a write returns: the key it concerns and where it sits in the log."""

    id: str
    pos: int
    event: str
    kind: str


class LoginReply(BaseModel):
    token: str
    expires_ms: int
    username: str
    role: Literal["viewer", "operator", "supervisor", "admin"]
    display_name: str


class Problem(BaseModel):
    """Every error: a Chinese message with English in brackets, and the fields at fault."""

    error: str
    detail: str
    problems: list[dict[str, Any]] = Field(default_factory=list)

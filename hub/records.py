"""Hub records: what people tell the hub (intake, bindings, approvals, …), logged like events.

Records go into the same hash-chained log as agents' events, signed with the hub's key, with
``agent`` = ``hub`` and ``source`` = the user who made them. So the log alone is the whole story:
projections and alerts rebuild from it, and ``hub verify`` covers people's actions too. Records
stay in the hub (names may be in them); agents only ever see band registrations.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from hub.notify.templates import Role
from protocol.canonical import canonical_bytes
from protocol.envelope import EPOCH_PATTERN
from protocol.errors import CasewatchError, SchemaError
from protocol.fields import Key, Ms
from protocol.ids import uuid7
from protocol.signing import signed

HUB_AGENT = "hub"
Procedure = Literal["summons", "compelled", "inquiry", "panwen", "other"]
"""传唤 summons, 拘传 compelled, 询问查证 inquiry, 继续盘问 panwen."""
PROCEDURE_NAMES: dict[str, str] = {
    "summons": "传唤",
    "compelled": "拘传",
    "inquiry": "询问查证",
    "panwen": "继续盘问",
    "other": "其他",
}
Text = Annotated[str, Field(max_length=500)]
BandRole = Literal["detainee", "officer", "auxiliary", "visitor", "guardian"]
ApprovalType = Literal["extension", "leave_area", "exemption", "borrow_extension"]
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
"""Records of care a person's timeline shows (``record`` hub records)."""
StaffRole = Role
"""Who hears which alerts (``hub.notify.templates.Role``): 办案民警, 单位领导, 值班督察, 法制, 督察."""


class _Data(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Intake(_Data):
    procedure: Procedure
    arrived: Ms
    name: Annotated[str, Field(min_length=1, max_length=64)]
    sex: Literal["male", "female"]
    id_number: Annotated[str, Field(max_length=32)] | None = None
    minor: bool = False
    special_group: bool = False
    high_risk: bool = False
    intoxicated: bool = False
    case: Key | None = None
    note: Text = ""


Item = Annotated[str, Field(min_length=1, max_length=60)]


class LockerLeft(_Data):
    """Belongings still in a locker (or kept without one: ``locker`` null) when the person left."""

    locker: Key | None = None
    items: list[Item] = Field(default_factory=list, max_length=1000)
    """Everything still held there (several stores into one locker add up)."""


class Release(_Data):
    reason: Text = ""
    family_pickup: bool = False
    belongings_left: list[LockerLeft] | None = Field(None, max_length=500)
    """Set by the hub, never by the caller (hub/belongings.py): what the belongings ledger still
    held at the release; rule BELONGINGS-FORGOTTEN raises it."""


class BandBind(_Data):
    role: BandRole
    officer: Key | None = None
    """For staff bands: the officer's key in the registry."""


class BandUnbind(_Data):
    reason: Text = ""


class Approval(_Data):
    type: ApprovalType
    hours: Annotated[float, Field(gt=0, le=24 * 14)] | None = None
    approved_by: Annotated[str, Field(min_length=1, max_length=64)]
    note: Text = ""


class CaseAccept(_Data):
    title: Annotated[str, Field(max_length=120)] = ""
    unit: Key | None = None
    officers: list[Key] = Field(default_factory=list, max_length=16)


class Picture(_Data):
    """The camera picture an operator saw when raising a finding (kept as the alert's evidence)."""

    camera: Key
    ts: Ms
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class Record(_Data):
    type: CareRecordType
    note: Text = ""
    locker: Key | None = None
    """``belongings_stored``/``belongings_returned``: the locker (储物柜) the items went into."""
    items: list[Item] = Field(default_factory=list, max_length=30)
    """What was stored or handed back (a return without items empties the locker)."""
    picture: Picture | None = None
    """The camera picture taken when the items were stored (the intake or locker camera)."""

    @model_validator(mode="after")
    def _belongings_only(self) -> Record:
        if (self.locker or self.items or self.picture) and not self.type.startswith("belongings_"):
            raise ValueError("locker, items and picture belong to belongings_stored/belongings_returned")
        return self


class Officer(_Data):
    name: Annotated[str, Field(min_length=1, max_length=64)]
    sex: Literal["male", "female"]
    unit: Key
    police: bool = True
    """民警 (True) or 辅警 auxiliary (False)."""
    phone: Annotated[str, Field(pattern=r"^\+?[0-9]{5,20}$")] | None = None
    roles: list[StaffRole] = Field(default_factory=lambda: list[StaffRole](["officer"]))
    fingerprint_pages: list[Annotated[int, Field(ge=0, le=65535)]] = Field(default_factory=list)
    tags: list[Key] = Field(default_factory=list, max_length=4)
    active: bool = True


class AlertAction(_Data):
    action: Literal["acknowledge", "assign", "rectify", "verify", "reject", "close", "comment"]
    comment: Text = ""
    assignee: Key | None = None
    evidence: list[Annotated[str, Field(max_length=200)]] = Field(default_factory=list, max_length=10)


class UserSession(_Data):
    """A login, a logout or a refused login, for the audit trail (``source`` is the username)."""

    action: Literal["login", "logout", "login_failed", "login_locked"]
    via: Literal["console", "api"]


class UserAccount(_Data):
    """An admin's change to a console account (no password or hash: those stay in ``accounts``)."""

    action: Literal["create", "update", "disable", "enable", "password"]
    username: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{2,32}$")]
    role: Literal["viewer", "operator", "supervisor", "admin"] | None = None
    display_name: Annotated[str, Field(max_length=32)] | None = None


class RuleStage(_Data):
    level: Literal["green", "blue", "yellow", "orange", "red"]
    after_ms: Annotated[int, Field(ge=0, le=366 * 86_400_000)] | None = None
    at: Annotated[float, Field(gt=0, le=10)] | None = None
    count: Annotated[int, Field(ge=1, le=100_000)] | None = None


class RuleChange(_Data):
    """An admin's change to a rule over its YAML file: on or off, its limit, its stages' thresholds.

    The ingest thread applies it when it commits it (hub/rule_admin.py); ``comment`` says why."""

    rule: Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9-]{1,40}$")]
    enabled: bool
    limit_ms: Annotated[int, Field(ge=1000, le=366 * 86_400_000)] | None = None
    stages: list[RuleStage] = Field(default_factory=list, max_length=5)
    comment: Text = ""


class IngestGap(_Data):
    """Written by the ingest itself: an agent's seq numbers that never arrived (data loss)."""

    agent: Key
    first: Annotated[int, Field(ge=1)]
    last: Annotated[int, Field(ge=1)]
    epoch: Annotated[str, Field(pattern=EPOCH_PATTERN)] | None = None


class IngestReset(_Data):
    """Written by the ingest itself: an agent started a new outbox (its numbering began again)."""

    agent: Key
    epoch: Annotated[str, Field(pattern=EPOCH_PATTERN)] | Literal[""]
    first_seq: Annotated[int, Field(ge=1)]
    previous_epoch: Annotated[str, Field(pattern=EPOCH_PATTERN)] | Literal[""]
    previous_highest: Annotated[int, Field(ge=0)]


class IngestStall(_Data):
    """Written by the ingest itself once a stall is over: the store could not be written."""

    stage: Literal["commit", "save"]
    reason: Annotated[str, Field(max_length=300)]
    since: Ms
    until: Ms
    attempts: Annotated[int, Field(ge=1)]


class PatrolRound(_Data):
    """One round of the patrol wall: every camera on it shown once (``source`` is who patrolled)."""

    started: Ms
    seconds: Annotated[int, Field(ge=0, le=86_400)]
    cameras: list[Key] = Field(default_factory=list, max_length=2000)
    screen: Annotated[str, Field(max_length=64)] = ""


class FindingManual(_Data):
    """A finding raised by hand (远程提醒): rule MANUAL makes it an alert at ``level`` (hub/findings.py).

    ``title`` is the item's title as the operator saw it (the catalogue may change later);
    ``officers``/``unit``: who must rectify it (notified like a case's officers and unit leader).
    """

    item: Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9-]{1,40}$")]
    title: Annotated[str, Field(min_length=2, max_length=80)]
    level: Literal["green", "blue", "yellow", "orange", "red"]
    officers: list[Key] = Field(default_factory=list, max_length=8)
    unit: Key | None = None
    comment: Text = ""
    picture: Picture | None = None


class CoverageGap(_Data):
    """Written by the hub itself (hub/coverage_watch.py): part of a person's time in a room was not
    on camera; rule REC-GAP makes it an alert. ``reason`` and ``cause`` as in hub/coverage.py."""

    room: Key
    start: Ms
    end: Ms
    reason: Literal["room_without_camera", "recording_gap", "not_recorded"]
    cause: Annotated[str, Field(max_length=40)] | None = None
    cameras: list[Key] = Field(default_factory=list, max_length=32)
    detail: Text | None = None


class PackageBuilt(_Data):
    """A person's package (hub/packages.py) was assembled: the digest of its signed manifest ties
    the archive handed over to this row of the log."""

    package: Annotated[str, Field(pattern=r"^[0-9a-f-]{36}$")]
    trigger: Literal["release", "request", "case"]
    manifest_sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    files: Annotated[int, Field(ge=0, le=100_000)]
    parts: Annotated[int, Field(ge=0, le=100_000)]
    percent: Annotated[float, Field(ge=0, le=100)]
    """Custody time on camera (hub/coverage.py)."""
    missing: Annotated[int, Field(ge=0, le=100_000)] = 0
    """Segments the agents listed that never arrived."""


class CasePackageBuilt(_Data):
    """A case's package (its persons' packages together, hub/package_build.py) was assembled."""

    package: Annotated[str, Field(pattern=r"^[0-9a-f-]{36}$")]
    manifest_sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    persons: list[Key] = Field(default_factory=list, max_length=200)
    files: Annotated[int, Field(ge=0, le=1_000_000)]


Fraction = Annotated[float, Field(ge=0, le=1)]
Point = Annotated[list[Fraction], Field(min_length=2, max_length=2)]
"""``[x, y]`` as fractions of the plan picture's width and height (0,0 top left)."""


class PlanImage(_Data):
    """A floor plan's picture as an admin uploaded it; the file is kept beside the store under its
    SHA-256 (hub/plans.py), so the log says which picture each layout was drawn on."""

    name: Annotated[str, Field(min_length=1, max_length=64)]
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    media: Literal["image/png", "image/jpeg"]
    width: Annotated[int, Field(ge=1, le=20_000)]
    height: Annotated[int, Field(ge=1, le=20_000)]


class PlanLayout(_Data):
    """Where each room (a polygon) and each camera (a point) lies on a plan."""

    rooms: dict[Key, Annotated[list[Point], Field(min_length=3, max_length=64)]] = Field(
        default_factory=dict, max_length=300
    )
    cameras: dict[Key, Point] = Field(default_factory=dict, max_length=1000)


RECORD_KINDS: dict[str, tuple[type[_Data], tuple[str, ...]]] = {
    "person.intake": (Intake, ("person",)),
    "person.release": (Release, ("person",)),
    "band.bind": (BandBind, ("band",)),
    "band.unbind": (BandUnbind, ("band",)),
    "approval": (Approval, ()),
    "case.accept": (CaseAccept, ("case",)),
    "record": (Record, ("person",)),
    "officer.register": (Officer, ("officer",)),
    "alert.action": (AlertAction, ("alert",)),
    "user.session": (UserSession, ()),
    "user.account": (UserAccount, ()),
    "rule.change": (RuleChange, ()),
    "ingest.gap": (IngestGap, ()),
    "ingest.reset": (IngestReset, ()),
    "ingest.stall": (IngestStall, ()),
    "patrol.round": (PatrolRound, ()),
    "finding.manual": (FindingManual, ("finding",)),
    "plan.image": (PlanImage, ("plan",)),
    "plan.layout": (PlanLayout, ("plan",)),
    "coverage.gap": (CoverageGap, ("person", "room")),
    "package.built": (PackageBuilt, ("person",)),
    "package.case": (CasePackageBuilt, ("case",)),
}
SUBJECT_KEYS = ("person", "band", "case", "dossier", "officer", "alert", "room", "finding", "camera", "plan")


class RecordConflict(CasewatchError):
    """A record the log already contradicts (found by the ingest thread, which alone writes)."""


_CLAIMS = {
    "person.intake": "person",
    "person.release": "person",
    "band.bind": "band",
    "band.unbind": "band",
    "case.accept": "case",
}


def conflict(
    kind: str,
    subject: dict[str, str],
    persons: dict[str, dict[str, Any]],
    bands: dict[str, dict[str, Any]],
    cases: dict[str, dict[str, Any]],
    claimed: set[tuple[str, str]],
) -> str | None:
    """Why the record cannot be logged now, or None; ``claimed`` holds what this batch already
    changed (records of one batch are applied only after it commits).

    The API checks the same before it asks; this second check, on the one thread that writes,
    closes the window between the two (two operators registering the same person at once).
    """
    key_name = _CLAIMS.get(kind)
    if key_name is None:
        return None
    key = subject.get(key_name, "")
    if (key_name, key) in claimed:
        return f"{kind}: {key} was changed by another request just now"
    person = persons.get(key) if key_name == "person" else None
    in_custody = person is not None and person.get("released") is None
    problem = {
        "person.intake": f"person {key} is already in custody" if in_custody else None,
        "person.release": None if in_custody else f"person {key} is not in custody",
        "band.bind": f"band {key} is bound" if key in bands else None,
        "band.unbind": None if key in bands else f"band {key} is not bound",
        "case.accept": f"case {key} was already accepted" if key in cases else None,
    }[kind]
    if problem is None:
        claimed.add((key_name, key))
    return problem


def validate_record(kind: str, subject: dict[str, str], data: dict[str, Any]) -> dict[str, Any]:
    """The record's data, validated and normalised; ``SchemaError`` names what is wrong."""
    spec = RECORD_KINDS.get(kind)
    if spec is None:
        raise SchemaError(f"unknown record kind {kind!r}")
    model, needed = spec
    problems = [(f"subject.{k}", "required") for k in needed if not subject.get(k)]
    problems += [(f"subject.{k}", "unknown subject key") for k in subject if k not in SUBJECT_KEYS]
    if kind == "approval" and not any(subject.get(k) for k in ("person", "case", "dossier")):
        problems.append(("subject", "an approval is for a person, case or dossier"))
    try:
        clean = model.model_validate(data).model_dump(mode="json")
    except ValidationError as exc:
        problems += [(".".join(["data", *map(str, e["loc"])]), e["msg"]) for e in exc.errors()]
        clean = {}
    if problems:
        raise SchemaError(f"{kind}: " + "; ".join(f"{p}: {m}" for p, m in problems[:5]), problems=problems)
    return clean


def build_record(
    *,
    kind: str,
    subject: dict[str, str],
    data: dict[str, Any],
    seq: int,
    ts: int,
    center: str,
    by: str,
    key: bytes,
    now_ms: int,
) -> dict[str, Any]:
    """A signed record envelope (the same shape as an agent's event) ready for the log."""
    body = {
        "v": 1,
        "id": uuid7(now_ms),
        "seq": seq,
        "ts": ts,
        "center": center,
        "agent": HUB_AGENT,
        "source": by,
        "kind": kind,
        "subject": {k: v for k, v in subject.items() if v},
        "data": validate_record(kind, subject, data),
    }
    return signed(body, key)


def record_bytes(record: dict[str, Any]) -> bytes:
    return canonical_bytes(record)

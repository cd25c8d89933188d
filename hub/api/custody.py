"""People in custody: intake (登记), release, records of care, band binding, approvals.

Each write checks what the log already says (a person registered twice, a band bound twice, a
record for someone released: 409) and is then logged as a hub record signed for the caller.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query

from hub.api.auth import Principal
from hub.api.context import ApiContext, ApiError, Ctx, Operator, Viewer, conflict, not_found
from hub.api.pictures import keep_picture
from hub.api.pii import for_reader
from hub.api.schemas import ApprovalBody, BindBody, Created, IntakeBody, RecordBody, ReleaseBody, UnbindBody
from hub.api.views.custody import BandView, PersonDetail, PersonInCustody, PersonTimeline
from hub.belongings import ledger, still_held
from hub.queries import AlertFilter
from hub.trail import read_trail, trail_steps

router = APIRouter(tags=["custody"])
PERSON_ROLES = ("detainee", "visitor", "guardian")
PICTURE_FRESH_MS = 60_000
"""A belongings picture is the camera's picture of now: none older than this."""


def _person(ctx: ApiContext, person: str) -> dict[str, Any]:
    doc = ctx.queries.projection("person", person)
    if doc is None:
        raise not_found("人员 person", person)
    return doc


def _in_custody(ctx: ApiContext, person: str) -> dict[str, Any]:
    doc = _person(ctx, person)
    if doc.get("released") is not None:
        raise conflict(f"人员已离开办案区 (person {person} was released)")
    return doc


@router.get(
    "/persons",
    summary="People registered (in custody by default)",
    response_model=list[PersonInCustody],
    response_model_exclude_unset=True,
)
def list_persons(
    ctx: ApiContext = Ctx,
    who: Principal = Viewer,
    in_custody: bool = Query(True, description="false: everyone, released included"),
) -> list[dict[str, Any]]:
    people = ctx.queries.projections("person")
    if in_custody:
        people = [p for p in people if p.get("released") is None]
    timers = ctx.queries.timers(ctx.service.custody_rules, [(str(p["id"]),) for p in people])
    listed = [{**p, "timers": timers.get((str(p["id"]),), [])} for p in people]
    found: list[dict[str, Any]] = for_reader(listed, who)
    return found


@router.post("/persons", status_code=201, summary="Intake registration (人员登记)")
def intake(body: IntakeBody, ctx: ApiContext = Ctx, who: Principal = Operator) -> Created:
    person = body.id or _new_person_id(ctx)
    existing = ctx.queries.projection("person", person)
    if existing is not None and existing.get("released") is None:
        raise conflict(f"人员已在办案区 (person {person} is already in custody)")
    if body.arrived > ctx.now_ms() + 60_000:
        raise ApiError(422, "invalid", "到达时间不能在将来 (arrival time is in the future)")
    if body.arrived < ctx.now_ms() - BACKDATE_MAX_MS:
        raise ApiError(422, "invalid", "到达时间不能早于七天前 (arrival more than 7 days ago)")
    data = body.model_dump(mode="json", exclude={"id"})
    # dated at arrival: the legal clock starts then (刑规 第199条), not when the form was typed in
    return ctx.write("person.intake", {"person": person}, data, who, body.arrived)


@router.get(
    "/persons/{person}",
    summary="A person: registration, bands, open alerts",
    response_model=PersonDetail,
    response_model_exclude_unset=True,
)
def get_person(person: str, ctx: ApiContext = Ctx, who: Principal = Viewer) -> dict[str, Any]:
    doc = _person(ctx, person)
    alerts = ctx.queries.alerts(AlertFilter(person=person, limit=100))
    found: dict[str, Any] = for_reader({**doc, "alerts": [a.to_json() for a in alerts]}, who)
    return found


@router.get(
    "/persons/{person}/timeline",
    summary="The person's electronic trajectory (全程电子轨迹)",
    response_model=PersonTimeline,
    response_model_exclude_unset=True,
)
def person_timeline(person: str, ctx: ApiContext = Ctx, who: Principal = Viewer) -> dict[str, Any]:
    doc = _person(ctx, person)
    trail = read_trail(ctx.queries, doc)
    rooms = {r.id: r.name for r in ctx.service.cfg.rooms}
    steps = trail_steps(ctx.queries, trail, rooms, ctx.service.alert_view)
    found: dict[str, Any] = for_reader({"person": doc, "bands": trail.own_bands, "steps": steps}, who)
    return found


@router.post("/persons/{person}/release", status_code=201, summary="Release (离开办案区)")
def release(person: str, body: ReleaseBody, ctx: ApiContext = Ctx, who: Principal = Operator) -> Created:
    found = _in_custody(ctx, person)
    data = body.model_dump(mode="json", exclude={"at", "confirm_belongings_left"})
    when = record_time(ctx, body.at, found)
    left = still_held(ledger(_this_custody(ctx, found)))
    if left and not body.confirm_belongings_left:
        names = "；".join(f"{x['locker'] or '无柜号'}：{'、'.join(x['items'])}" for x in left)
        raise conflict(f"储物柜内仍有物品未领取 (belongings still held: {names}); "
                       "return them first, or confirm_belongings_left")  # fmt: skip
    if left:
        data["belongings_left"] = left
    seen = _last_seen(ctx, person)
    if when is not None and seen is not None and when < seen:  # backdated past the legal clock
        raise ApiError(
            422,
            "invalid",
            "离开时间早于其手环最后一次出现 (the release is dated before the person's band was last seen)",
        )
    return ctx.write("person.release", {"person": person}, data, who, when)


def _last_seen(ctx: ApiContext, person: str) -> int | None:
    """When a band bound to the person was last seen in a room: a release cannot be dated earlier
    (dating it back would hide an overrun of the custody time limit)."""
    bands = [b["band"] for b in ctx.queries.projections("band") if b.get("person") == person]
    where = ctx.queries.projection_map("band_room")
    seen = [int(where[b]["ts"]) for b in bands if isinstance((where.get(b) or {}).get("ts"), int)]
    return max(seen, default=None)


@router.post(
    "/persons/{person}/records",
    status_code=201,
    summary="A record of care: safety check, information collection, belongings, meal, rest, health check",
)
def add_record(person: str, body: RecordBody, ctx: ApiContext = Ctx, who: Principal = Operator) -> Created:
    # belongings handed back after the release (the phone left in the locker) are still recorded
    found = _person(ctx, person) if body.type == "belongings_returned" else _in_custody(ctx, person)
    data = body.model_dump(mode="json", exclude={"at", "camera"}, exclude_defaults=True)
    data["type"] = body.type
    if body.camera and body.type == "belongings_stored":
        if body.at is not None and abs(body.at - ctx.service.clock.now_ms()) > PICTURE_FRESH_MS:
            raise ApiError(
                422, "invalid", "camera 的画面是现在的：不能用于补录 (a picture is of now: not with at)"
            )
        picture = keep_picture(ctx, body.camera, f"belongings-{person}", fresh_ms=PICTURE_FRESH_MS)
        if picture is None:
            raise ApiError(409, "no_picture", f"摄像机 {body.camera} 无最新画面 (no recent picture)")
        data["picture"] = picture
    elif body.camera:
        raise ApiError(422, "invalid", "camera 仅用于 belongings_stored (pictures go with stored belongings)")
    return ctx.write("record", {"person": person}, data, who, record_time(ctx, body.at, found))


def _this_custody(ctx: ApiContext, person: dict[str, Any]) -> list[dict[str, Any]]:
    """The log rows about the person since this custody began (an id may have been here before)."""
    since = int(person.get("arrived") or 0)
    return [r for r in ctx.queries.about_person(str(person["id"])) if int(r.get("ts") or 0) >= since]


@router.get(
    "/bands",
    summary="Bands bound now, with where each was last seen",
    response_model=list[BandView],
    response_model_exclude_unset=True,
)
def list_bands(ctx: ApiContext = Ctx, _: Principal = Viewer) -> list[dict[str, Any]]:
    seen = ctx.queries.projection_map("band_room")
    out = []
    for band in ctx.queries.projections("band"):
        where = seen.get(band["band"]) or {}
        out.append({**band, "room": where.get("room"), "seen_ms": where.get("ts")})
    return out


@router.post("/bands/{band}/bind", status_code=201, summary="Bind a wristband to a person or an officer")
def bind(band: str, body: BindBody, ctx: ApiContext = Ctx, who: Principal = Operator) -> Created:
    if ctx.queries.projection("band", band) is not None:
        raise conflict(f"手环已绑定 (band {band} is bound; unbind it first)")
    subject = {"band": band}
    held: dict[str, Any] | None = None
    if body.role in PERSON_ROLES:
        if not body.person:
            raise ApiError(422, "invalid", f"{body.role} 手环需指定人员 (a {body.role} band needs person)")
        if body.role == "detainee":
            held = _in_custody(ctx, body.person)
        subject["person"] = body.person
    else:
        if not body.officer:
            raise ApiError(422, "invalid", f"{body.role} 手环需指定民警 (a {body.role} band needs officer)")
        if ctx.queries.projection("officer", body.officer) is None:
            raise not_found("民警 officer", body.officer)
    data = body.model_dump(mode="json", exclude={"person", "at"}, exclude_none=True)
    return ctx.write("band.bind", subject, data, who, record_time(ctx, body.at, held))


@router.post("/bands/{band}/unbind", status_code=201, summary="Release a wristband")
def unbind(band: str, body: UnbindBody, ctx: ApiContext = Ctx, who: Principal = Operator) -> Created:
    bound = ctx.queries.projection("band", band)
    if bound is None:
        raise not_found("已绑定手环 bound band", band)
    when = record_time(ctx, body.at, bound_since=int(bound.get("since") or 0))
    return ctx.write("band.unbind", {"band": band}, body.model_dump(mode="json", exclude={"at"}), who, when)


@router.post(
    "/approvals",
    status_code=201,
    summary="An approval on record: extension, leaving the area, exemption, borrowing extension",
)
def approve(body: ApprovalBody, ctx: ApiContext = Ctx, who: Principal = Operator) -> Created:
    subject = {
        k: v for k, v in (("person", body.person), ("case", body.case), ("dossier", body.dossier)) if v
    }
    if not subject:
        raise ApiError(
            422, "invalid", "审批需指定人员、案件或卷宗 (an approval is for a person, case or dossier)"
        )
    held = _in_custody(ctx, body.person) if body.person else None
    if body.case and ctx.queries.projection("case", body.case) is None:
        raise not_found("案件 case", body.case)
    data = body.model_dump(mode="json", exclude={"person", "case", "dossier", "at"}, exclude_none=True)
    return ctx.write("approval", subject, data, who, record_time(ctx, body.at, held))


BACKDATE_MAX_MS = 7 * 86_400_000
"""A record may be entered late, but not dated more than a week back (``at: 0`` was accepted)."""


def record_time(
    ctx: ApiContext, at: int | None, person: dict[str, Any] | None = None, *, bound_since: int = 0
) -> int | None:
    """A time given for a record: not in the future (a minute of clock difference allowed), not
    before the person it is about arrived (or the band it is about was bound), not more than a
    week ago."""
    if at is None:
        return None
    now = ctx.now_ms()
    if at > now + 60_000:
        raise ApiError(422, "invalid", "时间不能在将来 (the time given is in the future)")
    arrived = int((person or {}).get("arrived") or 0)
    if at < arrived:
        raise ApiError(422, "invalid", "时间早于该人员到达 (the time given is before the person arrived)")
    if at < bound_since:
        raise ApiError(422, "invalid", "时间早于手环绑定 (the time given is before the band was bound)")
    if at < now - BACKDATE_MAX_MS:
        raise ApiError(422, "invalid", "时间不能早于七天前 (the time given is more than 7 days ago)")
    return at


def _new_person_id(ctx: ApiContext) -> str:
    day = datetime.fromtimestamp(ctx.now_ms() / 1000, ZoneInfo(ctx.service.cfg.timezone))
    return f"P{day:%Y%m%d}-{secrets.token_hex(3)}"

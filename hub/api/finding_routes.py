"""Remote reminders (远程提醒): the catalogue, who is responsible, and raising a finding by hand.

A supervisor on the patrol wall, a room tile or a person's page picks a risk item, a level, the
officers or unit who must rectify it and a comment; the camera's current picture goes with it as
evidence (its SHA-256 and time in the record, the JPEG into the alert's evidence folder). The
finding is a ``finding.manual`` hub record and rule ``MANUAL`` makes it an alert (hub/findings.py).
"""

from __future__ import annotations

import threading
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from hub.api.auth import Principal
from hub.api.context import ApiContext, ApiError, Ctx, Operator, Viewer, conflict, not_found
from hub.api.pictures import keep_picture
from hub.api.schemas import FindingBody
from hub.api.views.findings import FindingCatalogue, Responsible
from hub.findings import MANUAL_RULE, catalogue, manual_rule_present
from hub.rules.levels import LEVELS, rank
from hub.rules.state import alert_id
from protocol.ids import uuid7

router = APIRouter(tags=["findings"])
PER_MINUTE = 6
_lock = threading.Lock()


class Raised(BaseModel):
    finding: str
    alert: str = Field(description="The alert rule MANUAL makes of it (its id is known at once).")
    pos: int
    event: str
    picture: dict[str, Any] | None = None


@router.get(
    "/findings/catalogue",
    summary="Risk items an operator may raise by hand, and the levels",
    response_model=FindingCatalogue,
)
def finding_catalogue(ctx: ApiContext = Ctx, _: Principal = Viewer) -> dict[str, Any]:
    return {
        "enabled": manual_rule_present({r.id: r for r in ctx.service.rules.rules}),
        "items": [item.to_json() for item in catalogue(ctx.service.rules)],
        "levels": list(LEVELS),
    }


@router.get(
    "/findings/responsible",
    summary="Who is responsible here: officers in the room, the case's",
    response_model=Responsible,
)
def responsible(
    ctx: ApiContext = Ctx,
    _: Principal = Viewer,
    room: Annotated[str | None, Query(max_length=64)] = None,
    camera: Annotated[str | None, Query(max_length=64)] = None,
    person: Annotated[str | None, Query(max_length=64)] = None,
) -> dict[str, Any]:
    """Prefill for the reminder form: the officers wearing staff bands in the room (a camera's
    room when only the camera is given) first, then the officers of the person's case; the unit
    is the case's, else the first of those officers'."""
    room = room or _camera_room(ctx, camera)
    officers = ctx.queries.projection_map("officer")
    chosen: list[str] = []
    if room:
        where = ctx.queries.projection_map("band_room")
        for band in ctx.queries.projections("band"):
            in_room = (where.get(str(band["band"])) or {}).get("room") == room
            if in_room and band.get("role") in ("officer", "auxiliary") and band.get("officer") in officers:
                chosen.append(str(band["officer"]))
    case: dict[str, Any] = {}
    doc = ctx.queries.projection("person", person) if person else None
    if doc and doc.get("case"):
        case = ctx.queries.projection("case", str(doc["case"])) or {}
        chosen += [str(o) for o in case.get("officers") or [] if o in officers]
    chosen = list(dict.fromkeys(chosen))
    unit = case.get("unit") or next(
        (officers[o].get("unit") for o in chosen if officers[o].get("unit")), None
    )
    return {
        "room": room,
        "case": case.get("id"),
        "unit": unit,
        "officers": [_officer(officers[o]) for o in chosen],
        "units": sorted(known_units(ctx)),
    }


@router.post(
    "/findings", status_code=201, summary="Raise a finding by hand (远程提醒)", response_model=Raised
)
def raise_finding(body: FindingBody, ctx: ApiContext = Ctx, who: Principal = Operator) -> Raised:
    rules = ctx.service.rules
    if not manual_rule_present({r.id: r for r in rules.rules}):
        raise conflict("远程提醒未启用 (rule MANUAL is not in the rule files or is switched off)")
    items = {item.id: item for item in catalogue(rules)}
    item = items.get(body.item)
    if item is None:
        raise ApiError(422, "invalid", f"未知风险项 (unknown risk item): {body.item}")
    if rank(body.level) >= rank("red") and not who.may("supervisor"):
        raise ApiError(403, "forbidden", "红色远程提醒须由监督员发出 (a red reminder needs a supervisor)")
    subject = _subject(ctx, body)
    _check_responsible(ctx, body, subject)
    _throttle(ctx, who)
    now = ctx.now_ms()
    finding = uuid7(now)
    alert = alert_id(MANUAL_RULE, (finding,), now)
    picture = keep_picture(ctx, body.camera, alert) if body.camera and body.picture else None
    data = {
        "item": item.id, "title": item.title, "level": body.level, "officers": body.officers,
        "unit": body.unit, "comment": body.comment, "picture": picture,
    }  # fmt: skip
    made = ctx.write("finding.manual", {"finding": finding, **subject}, data, who, now)
    return Raised(finding=finding, alert=alert, pos=made.pos, event=made.event, picture=picture)


def _check_responsible(ctx: ApiContext, body: FindingBody, subject: dict[str, str]) -> None:
    """Officers registered and in service, a unit that exists (an officer's or a case's): a
    reminder must reach someone, and a mistyped unit would be ranked as a unit of its own."""
    officers = ctx.queries.projection_map("officer")
    unknown = [o for o in body.officers if o not in officers]
    if unknown:
        raise ApiError(422, "invalid", f"未登记的民警 (officers not registered): {', '.join(unknown)}")
    retired = [o for o in body.officers if not officers[o].get("active", True)]
    if retired:
        raise ApiError(422, "invalid", f"民警已停用 (officers no longer active): {', '.join(retired)}")
    if body.unit is not None and body.unit not in known_units(ctx):
        raise ApiError(422, "invalid", f"未知单位 (no officer or case of unit {body.unit})")
    if not body.officers and not body.unit and not subject.get("person"):
        raise ApiError(422, "invalid", "请指定责任民警或单位 (name the officers or unit responsible)")


def known_units(ctx: ApiContext) -> set[str]:
    units = {str(o["unit"]) for o in ctx.queries.projections("officer") if o.get("unit")}
    return units | {str(c["unit"]) for c in ctx.queries.projections("case") if c.get("unit")}


def _throttle(ctx: ApiContext, who: Principal) -> None:
    """A few reminders a minute per user: enough for a patrol, too few to flood the leadership's
    phones (orange and red reach unit leaders, 法制 and 督察)."""
    now = ctx.now_ms()
    with _lock:
        recent = [t for t in ctx.service.finding_marks.get(who.username, []) if now - t < 60_000]
        if len(recent) >= PER_MINUTE:
            raise ApiError(429, "too_often", f"远程提醒过于频繁 (at most {PER_MINUTE} a minute per user)")
        ctx.service.finding_marks[who.username] = [*recent, now]


def _subject(ctx: ApiContext, body: FindingBody) -> dict[str, str]:
    """Where and whom, each checked against what the hub knows; a camera names its room."""
    subject: dict[str, str] = {}
    if body.camera:
        known = {str(c["id"]) for c in ctx.queries.projections("camera")} | set(
            ctx.service.snapshots.received()
        )
        if body.camera not in known:
            raise not_found("摄像头 camera", body.camera)
        subject["camera"] = body.camera
    seen_in = _camera_room(ctx, body.camera)
    if body.room and seen_in and body.room != seen_in:
        raise ApiError(422, "invalid", f"摄像头 {body.camera} 不在该房间 (the camera watches {seen_in})")
    room = body.room or seen_in
    if room:
        if room not in {r.id for r in ctx.service.cfg.rooms}:
            raise not_found("房间 room", room)
        subject["room"] = room
    if body.person:
        doc = ctx.queries.projection("person", body.person)
        if doc is None:
            raise not_found("人员 person", body.person)
        subject["person"] = body.person
        if doc.get("case"):
            subject["case"] = str(doc["case"])
    return subject


def _camera_room(ctx: ApiContext, camera: str | None) -> str | None:
    if not camera:
        return None
    doc = ctx.queries.projection("camera", camera) or {}
    room = doc.get("room")
    return str(room) if room else None


def _officer(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: doc.get(k) for k in ("id", "name", "unit", "police") if doc.get(k) is not None}

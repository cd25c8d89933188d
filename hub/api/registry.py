"""The centre's reference data: officers, cases and their dossiers, rooms, the rules in force."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from hub.api.auth import Principal
from hub.api.context import (
    ApiContext,
    ApiError,
    Ctx,
    Operator,
    Supervisor,
    Viewer,
    conflict,
    not_found,
)
from hub.api.custody import record_time
from hub.api.pii import for_reader
from hub.api.schemas import CaseBody, Created, OfficerBody
from hub.api.views.registry import (
    CabinetDenial,
    CabinetView,
    CameraView,
    CaseDetail,
    DossierHistory,
    DossierView,
    RoomView,
)
from hub.domain import Case, Device, Officer
from hub.queries import AlertFilter
from hub.rules.levels import rank

router = APIRouter(tags=["registry"])


@router.get(
    "/officers",
    summary="Registered officers (民警/辅警) with roles, unit, tags",
    response_model=list[Officer],
    response_model_exclude_unset=True,
)
def list_officers(ctx: ApiContext = Ctx, who: Principal = Viewer) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = for_reader(ctx.queries.projections("officer"), who)
    return found


@router.put("/officers/{officer}", status_code=201, summary="Register or update an officer")
def put_officer(
    officer: str, body: OfficerBody, ctx: ApiContext = Ctx, who: Principal = Supervisor
) -> Created:
    return ctx.write("officer.register", {"officer": officer}, body.model_dump(mode="json"), who)


@router.get(
    "/cases",
    summary="Accepted cases",
    response_model=list[Case],
    response_model_exclude_unset=True,
)
def list_cases(ctx: ApiContext = Ctx, _: Principal = Viewer) -> list[dict[str, Any]]:
    return ctx.queries.projections("case")


@router.post("/cases", status_code=201, summary="Case acceptance (受案): starts DOSSIER-24H")
def accept_case(body: CaseBody, ctx: ApiContext = Ctx, who: Principal = Operator) -> Created:
    if ctx.queries.projection("case", body.id) is not None:
        raise conflict(f"案件已受理 (case {body.id} was already accepted)")
    unknown = [o for o in body.officers if ctx.queries.projection("officer", o) is None]
    if unknown:
        raise ApiError(
            422, "invalid", f"未登记的民警 (officers not registered): {', '.join(unknown)}",
            [{"field": "officers", "message": f"not registered: {o}"} for o in unknown],
        )  # fmt: skip
    when = record_time(ctx, body.at)  # not ahead, not more than a week back (`at: 0` went red at once)
    data = body.model_dump(mode="json", exclude={"id", "at"}, exclude_none=True)
    return ctx.write("case.accept", {"case": body.id}, data, who, when)


@router.get(
    "/cases/{case}",
    summary="A case with its dossiers and alerts",
    response_model=CaseDetail,
    response_model_exclude_unset=True,
)
def get_case(case: str, ctx: ApiContext = Ctx, _: Principal = Viewer) -> dict[str, Any]:
    doc = ctx.queries.projection("case", case)
    if doc is None:
        raise not_found("案件 case", case)
    dossiers = [d for d in ctx.queries.projections("dossier") if d.get("case") == case]
    alerts = ctx.queries.alerts(AlertFilter(case=case, limit=100))
    return {**doc, "dossiers": dossiers, "alerts": [a.to_json() for a in alerts]}


@router.get(
    "/dossiers",
    summary="Where each dossier is (cabinet, slot, in/out) and who last moved it",
    response_model=list[DossierView],
    response_model_exclude_unset=True,
)
def list_dossiers(
    ctx: ApiContext = Ctx,
    _: Principal = Viewer,
    case: str | None = None,
    state: str | None = Query(None, pattern="^(in|out)$"),
) -> list[dict[str, Any]]:
    found = ctx.queries.projections("dossier")
    overdue = {
        str(a.context.get("dossier")): a.level
        for a in ctx.queries.alerts(AlertFilter(rule="DOSSIER-OVERDUE", open_only=True, limit=5000))
        if a.active
    }
    return [
        {**d, "overdue": overdue.get(str(d["id"]))}
        for d in found
        if (case is None or d.get("case") == case) and (state is None or d.get("state") == state)
    ]


@router.get(
    "/cabinets",
    summary="Dossier cabinets: each door's last state and the dossiers inside",
    response_model=list[CabinetView],
    response_model_exclude_unset=True,
)
def list_cabinets(ctx: ApiContext = Ctx, _: Principal = Viewer) -> list[dict[str, Any]]:
    dossiers = ctx.queries.projections("dossier")
    cabinets = ctx.queries.projection_map("cabinet")
    for d in dossiers:  # a cabinet known only by its slots so far
        if d.get("cabinet") and d["cabinet"] not in cabinets:
            cabinets[d["cabinet"]] = {"id": d["cabinet"], "doors": {}}
    return [
        {
            **c,
            "open_doors": sorted(door for door, st in c["doors"].items() if st.get("state") != "closed"),
            "dossiers_in": sorted(
                d["id"] for d in dossiers if d.get("cabinet") == c["id"] and d.get("state") == "in"
            ),
        }
        for c in sorted(cabinets.values(), key=lambda c: str(c["id"]))
    ]


@router.get(
    "/dossiers/{dossier}",
    summary="A dossier's movements: every take, return and slot change",
    response_model=DossierHistory,
    response_model_exclude_unset=True,
)
def dossier_history(dossier: str, ctx: ApiContext = Ctx, _: Principal = Viewer) -> dict[str, Any]:
    doc = ctx.queries.projection("dossier", dossier)
    if doc is None:
        raise not_found("卷宗 dossier", dossier)
    moves = []
    for kind in ("cabinet.access", "cabinet.slot"):
        for found in ctx.queries.events(kind=kind, limit=100_000):
            ev = found["event"]
            data = ev.get("data") or {}
            if data.get("document") == dossier:
                moves.append({"pos": found["pos"], "ts": ev.get("ts"), "kind": kind,
                              "cabinet": (ev.get("subject") or {}).get("cabinet"), **data})  # fmt: skip
    return {**doc, "moves": sorted(moves, key=lambda m: (m["ts"], m["pos"]))}


@router.get(
    "/cabinets/denials",
    summary="Refused cabinet accesses, newest first (who, which document, why)",
    response_model=list[CabinetDenial],
    response_model_exclude_unset=True,
)
def cabinet_denials(
    ctx: ApiContext = Ctx,
    _: Principal = Viewer,
    limit: int = Query(50, ge=1, le=1000),
) -> list[dict[str, Any]]:
    out = []
    for found in ctx.queries.events(kind="cabinet.access", limit=limit * 4, newest_first=True):
        ev = found["event"]
        data = ev.get("data") or {}
        if not data.get("granted"):
            cabinet = (ev.get("subject") or {}).get("cabinet")
            out.append(
                {
                    "pos": found["pos"],
                    "ts": ev.get("ts"),
                    "cabinet": cabinet,
                    "reason": data.get("reason"),
                    "officers": data.get("officers") or [],
                    "document": data.get("document"),
                    "slot": data.get("slot"),
                }
            )
    return out[:limit]


@router.get(
    "/rooms",
    summary="Each room now: persons by camera, bands in it, open conditions, worst alert",
    response_model=list[RoomView],
    response_model_exclude_unset=True,
)
def list_rooms(ctx: ApiContext = Ctx, _: Principal = Viewer) -> list[dict[str, Any]]:
    states = ctx.queries.projection_map("room")
    where = ctx.queries.projection_map("band_room")
    bands = ctx.queries.projections("band")
    worst: dict[str, str] = {}
    for alert in ctx.queries.alerts(AlertFilter(open_only=True, limit=5000)):
        where_alert = str(alert.context.get("room") or "")
        if where_alert and rank(alert.level) > rank(worst.get(where_alert, "green")):  # type: ignore[arg-type]
            worst[where_alert] = alert.level
    out = []
    for room in ctx.service.cfg.rooms:
        state = states.get(room.id, {})
        here = [b for b in bands if (where.get(b["band"]) or {}).get("room") == room.id]
        out.append(
            {
                **room.model_dump(mode="json"),
                "persons": state.get("persons", 0),
                "zones": state.get("zones", {}),
                "updated": state.get("updated"),
                "conditions": sorted(set((state.get("conditions") or {}).values())),
                "detainees": sorted(b["person"] for b in here if b["role"] == "detainee" and b.get("person")),
                "staff_bands": sorted(b["band"] for b in here if b["role"] in ("officer", "auxiliary")),
                "worst_level": worst.get(room.id),
            }
        )
    return out


@router.get(
    "/cameras",
    summary="Camera health as the agents last reported it",
    response_model=list[CameraView],
    response_model_exclude_unset=True,
)
def list_cameras(ctx: ApiContext = Ctx, _: Principal = Viewer) -> list[dict[str, Any]]:
    cameras = {c["id"]: c for c in ctx.queries.projections("camera")}
    owners = {str(c["id"]): (str(c["agent"]) if c.get("agent") else None) for c in cameras.values()}
    snapshots = ctx.service.snapshots.received(owners)
    for camera in snapshots.keys() - cameras.keys():  # heard from only by its snapshots so far
        cameras[camera] = {"id": camera, "state": "online", "detail": None}
    return [
        {**c, "has_snapshot": c["id"] in snapshots, "snapshot_ms": snapshots.get(c["id"])}
        for c in sorted(cameras.values(), key=lambda c: str(c["id"]))
    ]


@router.get(
    "/devices",
    summary="Serial devices and gateways as the agents last reported them",
    response_model=list[Device],
    response_model_exclude_unset=True,
)
def list_devices(ctx: ApiContext = Ctx, _: Principal = Viewer) -> list[dict[str, Any]]:
    return ctx.queries.projections("device")

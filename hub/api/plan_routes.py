"""Floor plans: an admin uploads a centre's plan picture and draws rooms and cameras on it; every
viewer's live plan reads them back with the rooms' state (hub/plans.py, console ``/console/plans``).

Both writes are hub records (``plan.image``, ``plan.layout``), so who changed a plan and when is in
the log like every other action; the picture itself is kept beside the store under its SHA-256.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from hub.api.auth import Principal
from hub.api.context import Admin, ApiContext, ApiError, Ctx, Viewer, conflict, not_found
from hub.api.schemas import Created, PlanLayoutBody
from hub.api.views.media import media
from hub.api.views.plans import PlanView
from hub.plans import PlanImageError
from protocol.fields import KEY_PATTERN

router = APIRouter(tags=["plans"])


def _plan(ctx: ApiContext, plan: str) -> dict[str, Any]:
    doc = ctx.queries.projection("plan", plan)
    if doc is None:
        raise not_found("平面图 plan", plan)
    return doc


@router.get("/plans", summary="Floor plans: picture, rooms and cameras on it", response_model=list[PlanView])
def list_plans(ctx: ApiContext = Ctx, _: Principal = Viewer) -> list[dict[str, Any]]:
    return sorted(ctx.queries.projections("plan"), key=lambda p: str(p["id"]))


@router.get("/plans/{plan}", summary="One floor plan", response_model=PlanView)
def get_plan(plan: str, ctx: ApiContext = Ctx, _: Principal = Viewer) -> dict[str, Any]:
    return _plan(ctx, plan)


@router.get(
    "/plans/{plan}/image",
    summary="The plan's picture (checked against the hash in the log)",
    response_class=Response,
    responses=media(binary=("image/png", "image/jpeg")),
)
def plan_image(plan: str, ctx: ApiContext = Ctx, _: Principal = Viewer) -> Response:
    doc = _plan(ctx, plan)
    try:
        data = ctx.service.plans.read(str(doc["sha256"]), str(doc["media"]))
    except PlanImageError as exc:
        raise ApiError(500, "plan_image", str(exc)) from exc
    return Response(data, media_type=str(doc["media"]), headers={"Cache-Control": "private, max-age=86400"})


@router.put(
    "/plans/{plan}/image",
    status_code=201,
    summary="Upload a plan's picture (PNG or JPEG, up to 10 MiB and 8000 px a side; admins)",
    response_model=Created,
)
async def put_plan_image(
    plan: str, request: Request, ctx: ApiContext = Ctx, who: Principal = Admin,
    name: str = Query(..., min_length=1, max_length=64, description="The plan's name (一层 / 派出所名)"),
) -> Created:  # fmt: skip
    if not _is_key(plan):
        raise ApiError(422, "invalid", f"平面图编号不合法 (plan id must match {KEY_PATTERN})")
    data = await request.body()
    try:  # decoding and the commit off the event loop: the wall and the stream go on meanwhile
        picture = await run_in_threadpool(ctx.service.plans.keep, data)
    except PlanImageError as exc:
        raise ApiError(422, "invalid", str(exc)) from exc
    except OSError as exc:
        raise ApiError(503, "store", f"平面图未能保存 (could not keep the picture): {exc}") from exc
    record = {"name": name, "sha256": picture.sha256, "media": picture.media, "width": picture.width,
              "height": picture.height}  # fmt: skip
    return await run_in_threadpool(ctx.write, "plan.image", {"plan": plan}, record, who)


@router.put(
    "/plans/{plan}/layout",
    status_code=201,
    summary="Where rooms (polygons) and cameras (points) lie on the plan (admins)",
    response_model=Created,
)
def put_plan_layout(
    plan: str, body: PlanLayoutBody, ctx: ApiContext = Ctx, who: Principal = Admin
) -> Created:
    _plan(ctx, plan)
    rooms = {r.id for r in ctx.service.cfg.rooms}
    unknown = sorted(set(body.rooms) - rooms)
    if unknown:
        raise ApiError(422, "invalid", f"未配置的房间 (rooms not in the hub file): {', '.join(unknown[:5])}")
    cameras = {str(c["id"]) for c in ctx.queries.projections("camera")} | set(
        ctx.service.snapshots.received()
    )
    strangers = sorted(set(body.cameras) - cameras)
    if strangers:
        raise ApiError(
            422, "invalid", f"未知摄像头 (cameras the hub does not know): {', '.join(strangers[:5])}"
        )
    elsewhere = _cameras_on_other_plans(ctx, plan, set(body.cameras))
    if elsewhere:
        raise conflict(
            f"摄像头已在其他平面图上 (cameras already on another plan): {', '.join(elsewhere[:5])}"
        )
    return ctx.write("plan.layout", {"plan": plan}, body.model_dump(mode="json"), who)


def _cameras_on_other_plans(ctx: ApiContext, plan: str, cameras: set[str]) -> list[str]:
    """A camera hangs in one place: on one plan at most."""
    taken = {c for p in ctx.queries.projections("plan") if p["id"] != plan for c in p.get("cameras") or {}}
    return sorted(cameras & taken)


def _is_key(text: str) -> bool:
    return re.fullmatch(KEY_PATTERN, text) is not None

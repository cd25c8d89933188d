"""The patrol wall's rounds (视频巡查记录): who patrolled, when, which cameras, how long.

A viewer may log them — patrolling is the legal unit's watch, not an operator's entry — and each
becomes a ``patrol.round`` hub record in the log; the reports count how many of the cameras the
wall showed often enough (``reports.patrol_views_per_day``).
"""

from __future__ import annotations

from fastapi import APIRouter

from hub.api.auth import Principal
from hub.api.context import ApiContext, Ctx, Viewer
from hub.api.schemas import Created, PatrolRoundBody

router = APIRouter(tags=["patrol"])


@router.post(
    "/patrol/rounds", status_code=201, summary="A round of the patrol wall (every camera shown once)"
)
def patrol_round(body: PatrolRoundBody, ctx: ApiContext = Ctx, who: Principal = Viewer) -> Created:
    return ctx.write("patrol.round", {}, body.model_dump(mode="json"), who)

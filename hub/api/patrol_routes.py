"""The patrol wall's rounds (视频巡查记录): who patrolled, when, which cameras, how long.

A viewer may log them — patrolling is the legal unit's watch, not an operator's entry — and each
becomes a ``patrol.round`` hub record in the log; the reports count how many of the cameras the
wall showed often enough (``reports.patrol_views_per_day``).
"""

from __future__ import annotations

import threading

from fastapi import APIRouter

from hub.api.auth import Principal
from hub.api.context import ApiContext, ApiError, Ctx, Viewer
from hub.api.schemas import Created, PatrolRoundBody

router = APIRouter(tags=["patrol"])
MIN_ROUND_S = 60
"""One round per user and screen a minute at most: the wall cannot show every camera faster."""
_lock = threading.Lock()


@router.post(
    "/patrol/rounds", status_code=201, summary="A round of the patrol wall (every camera shown once)"
)
def patrol_round(body: PatrolRoundBody, ctx: ApiContext = Ctx, who: Principal = Viewer) -> Created:
    """Self-reported by the wall, so checked: only cameras the hub knows, a start within the last
    day and not ahead, at least 2 s per camera page, and one round per user and screen a minute."""
    now = ctx.now_ms()
    known = {str(c["id"]) for c in ctx.queries.projections("camera")} | set(ctx.service.snapshots.received())
    unknown = sorted(set(body.cameras) - known)
    if unknown:
        raise ApiError(
            422, "invalid", f"未知摄像头 (cameras the hub does not know): {', '.join(unknown[:5])}"
        )
    pages = -(-len(set(body.cameras)) // 36)
    if not now - 86_400_000 <= body.started <= now + 60_000 or body.seconds < 2 * pages:
        raise ApiError(422, "invalid", "巡查时间不合理 (the round's start or length is not plausible)")
    last = ctx.service.patrol_marks  # this hub's, not the process's
    with _lock:
        key = (who.username, body.screen)
        if now - last.get(key, 0) < MIN_ROUND_S * 1000:
            raise ApiError(429, "too_often", "巡查记录过于频繁 (one patrol round per screen a minute)")
        last[key] = now
        if len(last) > 10_000:
            last.clear()
    return ctx.write("patrol.round", {}, body.model_dump(mode="json"), who)

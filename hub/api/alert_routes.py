"""Alerts: filtered lists, one alert with its history and notifications, and the loop's actions.

Acknowledge, assign, rectify and comment need an operator; verify, reject (a rectification not
accepted) and close need a supervisor. An action the alert's state does not allow is refused with
409 before anything is logged.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Query
from fastapi.responses import FileResponse, Response

from hub.alerts import AlertError, check_action
from hub.api.auth import Principal
from hub.api.context import ApiContext, ApiError, Ctx, Operator, Viewer, conflict, not_found
from hub.api.schemas import ActionBody, Created
from hub.api.views.alerts import AlertDetail, AlertView
from hub.api.views.media import media
from hub.queries import AlertFilter
from hub.report_source import attribute
from hub.reports import UNASSIGNED
from protocol.fields import MAX_SAFE_INT
from protocol.files import MEDIA_TYPES

router = APIRouter(tags=["alerts"])
SUPERVISOR_ACTIONS = ("verify", "reject", "close")
LEVEL_PATTERN = "^(green|blue|yellow|orange|red)$"
STATE_PATTERN = "^(open|acknowledged|assigned|rectified|verified|closed)$"


@router.get(
    "/alerts",
    summary="Alerts, newest first, filtered",
    response_model=list[AlertView],
    response_model_exclude_unset=True,
)
def list_alerts(
    ctx: ApiContext = Ctx,
    _: Principal = Viewer,
    state: str | None = Query(None, pattern=STATE_PATTERN),
    open: bool = Query(False, description="Only alerts not closed"),
    level: str | None = Query(None, pattern=LEVEL_PATTERN),
    rule: str | None = None,
    room: str | None = None,
    person: str | None = None,
    case: str | None = None,
    unit: str | None = Query(None, description="The unit responsible (its case's, or its officers')"),
    since_ms: int | None = Query(None, ge=0, le=MAX_SAFE_INT),
    until_ms: int | None = Query(None, ge=0, le=MAX_SAFE_INT),
    limit: int = Query(200, ge=1, le=5000),
    reached: str | None = Query(
        None, pattern=LEVEL_PATTERN, description="The highest level reached (as reports count)"
    ),
    item: str | None = Query(None, max_length=64, description="A manual finding's risk item"),
) -> list[dict[str, Any]]:
    # a unit is derived, not a column: filter a wider window, then cut to the limit
    f = AlertFilter(
        state, open, level, rule, room, person, case, since_ms, until_ms, 20_000 if unit else limit, reached,
        item,
    )  # fmt: skip
    found = ctx.queries.alerts(f)
    if unit:
        q = ctx.queries
        officers, cases, persons = (
            q.projection_map("officer"),
            q.projection_map("case"),
            q.projection_map("person"),
        )
        wanted = "" if unit == UNASSIGNED else unit  # reports name the alerts of no unit "—"
        found = [a for a in found if attribute(a, officers, cases, persons)[0] == wanted][:limit]
    return [ctx.service.alert_view(a) for a in found]


@router.get(
    "/alerts/{alert_id}",
    summary="An alert with its rule, transitions and notifications",
    response_model=AlertDetail,
    response_model_exclude_unset=True,
)
def get_alert(alert_id: str, ctx: ApiContext = Ctx, _: Principal = Viewer) -> dict[str, Any]:
    alert = ctx.service.derived.alert(alert_id)
    if alert is None:
        raise not_found("告警 alert", alert_id)
    notes = ctx.service.notifier.store.query(alert=alert_id)
    evidence = []
    for pos in alert.events:
        found = ctx.queries.event(pos)
        if found is not None:
            ev = found["event"]
            named = (ev.get("data") or {}).get("evidence")
            evidence.append(
                {"pos": pos, "kind": ev.get("kind"), "ts": ev.get("ts"), "agent": ev.get("agent"),
                 "source": ev.get("source"), "subject": ev.get("subject"), "evidence": named,
                 "files": ctx.service.agent_files.describe(str(ev.get("agent")), named),
                 "hash": found["hash"]}
            )  # fmt: skip
    return {
        **ctx.service.alert_view(alert),
        "evidence": evidence,
        "pictures": ctx.service.evidence.list(alert_id),
        "history": [asdict(t) for t in ctx.service.derived.history(alert_id)],
        "notifications": [n.to_json() for n in notes],
    }


@router.get(
    "/alerts/{alert_id}/pictures/{name}",
    summary="A camera snapshot kept when the alert was raised",
    response_class=Response,
    responses=media(binary=("image/jpeg",)),
)
def picture(alert_id: str, name: str, ctx: ApiContext = Ctx, _: Principal = Viewer) -> Response:
    found = ctx.service.evidence.read(alert_id, name)
    if found is None:
        raise not_found("证据图片 picture", name)
    return Response(found, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=86400"})


@router.get(
    "/files/{agent}/{path:path}",
    summary="An agent's evidence file (snapshot, clip) kept at the hub",
    response_class=FileResponse,
    responses=media(binary=(*sorted(set(MEDIA_TYPES.values())), "application/octet-stream")),
)
def agent_file(agent: str, path: str, ctx: ApiContext = Ctx, _: Principal = Viewer) -> FileResponse:
    found = ctx.service.agent_files.locate(agent, path)
    if found is None:
        raise not_found("证据文件 evidence file", path)
    media = ctx.service.agent_files.media_type(found)
    return FileResponse(found, media_type=media, headers={"Cache-Control": "private, max-age=86400"})


@router.post("/alerts/{alert_id}/actions", status_code=201, summary="Move an alert through its loop")
def act(alert_id: str, body: ActionBody, ctx: ApiContext = Ctx, who: Principal = Operator) -> Created:
    if body.action in SUPERVISOR_ACTIONS and not who.may("supervisor"):
        raise ApiError(
            403, "forbidden", f"权限不足 ({body.action} needs role supervisor; {who.username} is {who.role})"
        )
    alert = ctx.service.derived.alert(alert_id)
    if alert is None:
        raise not_found("告警 alert", alert_id)
    if body.action == "assign" and not body.assignee:
        raise ApiError(422, "invalid", "派单需指定民警或单位 (assign needs an assignee)")
    if body.action in ("rectify", "reject") and not body.comment.strip():
        raise ApiError(422, "invalid", f"{body.action} 需填写说明 (needs a comment)")
    try:
        check_action(alert, body.action, comment=body.comment, assignee=body.assignee)
    except AlertError as exc:
        raise conflict(f"操作不允许 (not allowed): {exc}") from exc
    if body.action == "assign" and body.assignee and not _known_assignee(ctx, body.assignee):
        raise ApiError(422, "invalid", f"未知的民警或单位 (unknown officer or unit): {body.assignee}")
    return ctx.write(
        "alert.action", {"alert": alert_id}, body.model_dump(mode="json", exclude_none=True), who
    )


def _known_assignee(ctx: ApiContext, assignee: str) -> bool:
    officers = ctx.queries.projections("officer")
    return any(o.get("id") == assignee or o.get("unit") == assignee for o in officers)

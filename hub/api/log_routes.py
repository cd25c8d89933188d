"""The record itself: logged events, quarantine, notifications, and the hub's health."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Path, Query

from hub.api.auth import Principal
from hub.api.context import ApiContext, Ctx, Supervisor, Viewer, not_found
from protocol.fields import MAX_SAFE_INT

router = APIRouter(tags=["log"])


@router.get("/health", summary="Is the hub up, connected and committing (no login needed)")
def health(ctx: ApiContext = Ctx) -> dict[str, Any]:
    service = ctx.service
    link = service.link
    connected = bool(link is not None and link.connected.is_set())
    pos, _ = service.store.head()
    return {
        "status": "ok" if connected and service.running() else "degraded",
        "center": service.cfg.center,
        "broker_connected": connected,
        "ingest_running": service.running(),
        "store": {"head_pos": pos, "rules_pos": service.derived.rules_pos()},
        "ingest": {
            "batches": service.stats.batches,
            "stored": service.stats.stored,
            "store_errors": service.stats.store_errors,
            "commit_ms_max": round(service.stats.commit_ms_max, 1),
        },
        "rules": len(service.rules.rules),
        "now_ms": ctx.now_ms(),
    }


@router.get("/status", summary="Counts for a dashboard: alerts, quarantine, notifications")
def status(ctx: ApiContext = Ctx, _: Principal = Viewer) -> dict[str, Any]:
    return {
        "alerts_open": ctx.queries.alert_counts(),
        "quarantine": ctx.service.store.quarantine_counts(),
        "notifications": ctx.service.notifier.store.counts(),
        "in_custody": sum(1 for p in ctx.queries.projections("person") if p.get("released") is None),
        "agent_files": dict(ctx.service.agent_files.counters),
    }


@router.get("/events", summary="The log in chain order (agents' events and hub records)")
def list_events(
    ctx: ApiContext = Ctx,
    _: Principal = Viewer,
    kind: str | None = None,
    agent: str | None = None,
    after_pos: int = Query(0, ge=0, le=MAX_SAFE_INT),
    since_ms: int | None = Query(None, ge=0, le=MAX_SAFE_INT),
    until_ms: int | None = Query(None, ge=0, le=MAX_SAFE_INT),
    limit: int = Query(100, ge=1, le=5000),
) -> list[dict[str, Any]]:
    return ctx.queries.events(
        kind=kind, agent=agent, after_pos=after_pos, since_ms=since_ms, until_ms=until_ms, limit=limit
    )


@router.get("/events/{pos}", summary="One logged event by its chain position")
def get_event(
    ctx: ApiContext = Ctx, _: Principal = Viewer, pos: int = Path(..., ge=1, le=MAX_SAFE_INT)
) -> dict[str, Any]:
    found = ctx.queries.event(pos)
    if found is None:
        raise not_found("事件 event", str(pos))
    return found


@router.get("/quarantine", summary="Refused messages with the reason and the first bytes (hex)")
def list_quarantine(
    ctx: ApiContext = Ctx,
    _: Principal = Supervisor,
    code: str | None = None,
    limit: int = Query(100, ge=1, le=1000),
) -> list[dict[str, Any]]:
    rows = ctx.service.store.quarantine_rows(limit=limit, code=code)
    return [
        {**{k: v for k, v in r.items() if k != "raw"}, "raw_hex": bytes(r["raw"][:512]).hex()} for r in rows
    ]


@router.get("/notifications", summary="Notifications and their delivery state")
def list_notifications(
    ctx: ApiContext = Ctx,
    _: Principal = Viewer,
    alert: str | None = None,
    state: str | None = Query(None, pattern="^(pending|sent|failed|suppressed)$"),
    limit: int = Query(200, ge=1, le=5000),
) -> list[dict[str, Any]]:
    store = ctx.service.notifier.store
    return [
        {**n.to_json(), "tries": store.attempts(n.id)}
        for n in store.query(alert=alert, state=state, limit=limit)
    ]

"""The record itself: logged events, quarantine, notifications, and the hub's health."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import PlainTextResponse

from hub.api.auth import Principal
from hub.api.context import ApiContext, Ctx, Supervisor, Viewer, not_found
from hub.api.pii import for_reader
from hub.api.views.alerts import NotificationView
from hub.api.views.log import Health, LoggedEvent, QuarantineEntry, Status
from hub.api.views.media import media
from protocol.fields import MAX_SAFE_INT

router = APIRouter(tags=["log"])


@router.get(
    "/health",
    summary="Is the hub up, connected and committing (no login needed)",
    response_model=Health,
    response_model_exclude_unset=True,
)
def health(ctx: ApiContext = Ctx) -> dict[str, Any]:
    service = ctx.service
    link = service.link
    connected = bool(link is not None and link.connected.is_set())
    pos, _ = service.store.head()
    fault = service.fault
    stats = service.stats
    return {
        "status": "ok" if connected and service.running() and fault is None else "degraded",
        "center": service.cfg.center,
        "broker_connected": connected,
        "ingest_running": service.running(),
        "fault": None
        if fault is None
        else {
            "stage": fault.stage,
            "reason": fault.reason,
            "since_ms": fault.since_ms,
            "attempts": fault.attempts,
        },
        "store": {"head_pos": pos, "rules_pos": service.derived.rules_pos()},
        "ingest": {
            "batches": stats.batches,
            "stored": stats.stored,
            "store_errors": stats.store_errors,
            "save_errors": stats.save_errors,
            "stalls": stats.stalls,
            "receipts": stats.receipts,
            "commit_ms_max": round(stats.commit_ms_max, 1),
        },
        "rules": len(service.rules.rules),
        "now_ms": ctx.now_ms(),
    }


@router.get(
    "/metrics",
    summary="Prometheus text: ingest, faults, quarantine, receipts (no login needed, like /health)",
    response_class=PlainTextResponse,
    responses=media(text=("text/plain",)),
)
def metrics(ctx: ApiContext = Ctx) -> PlainTextResponse:
    service = ctx.service
    stats, fault = service.stats, service.fault
    link = service.link
    admission = service.admission
    lines: list[str] = []

    def metric(name: str, kind: str, text: str, samples: list[tuple[str, float]]) -> None:
        lines.extend((f"# HELP {name} {text}", f"# TYPE {name} {kind}"))
        lines.extend(f"{name}{labels} {value:g}" for labels, value in samples)

    metric("casewatch_hub_up", "gauge", "1 while the ingest runs and nothing stops it.",
           [("", float(service.running() and fault is None))])  # fmt: skip
    metric("casewatch_hub_degraded", "gauge", "1 while a failed commit or save holds the ingest.",
           [(f'{{stage="{fault.stage}"}}', 1.0)] if fault else [("", 0.0)])  # fmt: skip
    metric("casewatch_hub_broker_connected", "gauge", "1 when connected to the broker.",
           [("", float(link is not None and link.connected.is_set()))])  # fmt: skip
    metric(
        "casewatch_hub_events_stored_total", "counter", "Events and records committed.", [("", stats.stored)]
    )
    metric("casewatch_hub_batches_total", "counter", "Batches committed.", [("", stats.batches)])
    metric("casewatch_hub_store_errors_total", "counter", "Commits that failed.", [("", stats.store_errors)])
    metric("casewatch_hub_save_errors_total", "counter", "Saves of derived state that failed.",
           [("", stats.save_errors)])  # fmt: skip
    metric(
        "casewatch_hub_stalls_total", "counter", "Times the ingest stopped for a fault.", [("", stats.stalls)]
    )
    metric("casewatch_hub_receipts_total", "counter", "Receipts published to agents.", [("", stats.receipts)])
    metric("casewatch_hub_duplicates_total", "counter", "Redeliveries dropped.", [("", admission.duplicates)])
    refused = [(f'{{code="{code}"}}', float(n)) for code, n in sorted(admission.quarantined.items())]
    metric("casewatch_hub_quarantined_total", "counter", "Messages refused, by reason (this run).",
           refused or [("", 0.0)])  # fmt: skip
    metric("casewatch_hub_queue_depth", "gauge", "Deliveries and records waiting for the ingest thread.",
           [("", service.ingest.queue.qsize() if service.ingest else 0)])  # fmt: skip
    return PlainTextResponse("\n".join(lines) + "\n", media_type="text/plain; version=0.0.4")


@router.get(
    "/status",
    summary="Counts for a dashboard: alerts, quarantine, notifications",
    response_model=Status,
    response_model_exclude_unset=True,
)
def status(ctx: ApiContext = Ctx, _: Principal = Viewer) -> dict[str, Any]:
    return {
        "alerts_open": ctx.queries.alert_counts(),
        "quarantine": ctx.service.store.quarantine_counts(),
        "quarantine_pruned": ctx.service.store.quarantine_pruned(),
        "notifications": ctx.service.notifier.store.counts(),
        "in_custody": sum(1 for p in ctx.queries.projections("person") if p.get("released") is None),
        "agent_files": dict(ctx.service.agent_files.counters),
        "snapshots": dict(ctx.service.snapshots.counters),
    }


@router.get(
    "/events",
    summary="The log in chain order (agents' events and hub records)",
    response_model=list[LoggedEvent],
    response_model_exclude_unset=True,
)
def list_events(
    ctx: ApiContext = Ctx,
    who: Principal = Viewer,
    kind: str | None = None,
    agent: str | None = None,
    after_pos: int = Query(0, ge=0, le=MAX_SAFE_INT),
    since_ms: int | None = Query(None, ge=0, le=MAX_SAFE_INT),
    until_ms: int | None = Query(None, ge=0, le=MAX_SAFE_INT),
    limit: int = Query(100, ge=1, le=5000),
) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = for_reader(
        ctx.queries.events(
            kind=kind, agent=agent, after_pos=after_pos, since_ms=since_ms, until_ms=until_ms, limit=limit
        ),
        who,
    )
    return found


@router.get(
    "/events/{pos}",
    summary="One logged event by its chain position",
    response_model=LoggedEvent,
    response_model_exclude_unset=True,
)
def get_event(
    ctx: ApiContext = Ctx, who: Principal = Viewer, pos: int = Path(..., ge=1, le=MAX_SAFE_INT)
) -> dict[str, Any]:
    found = ctx.queries.event(pos)
    if found is None:
        raise not_found("事件 event", str(pos))
    shown: dict[str, Any] = for_reader(found, who)
    return shown


@router.get(
    "/quarantine",
    summary="Refused messages with the reason and the first bytes (hex)",
    response_model=list[QuarantineEntry],
    response_model_exclude_unset=True,
)
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


@router.get(
    "/notifications",
    summary="Notifications and their delivery state",
    response_model=list[NotificationView],
    response_model_exclude_unset=True,
)
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

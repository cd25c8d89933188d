"""Reports on demand (JSON, CSV, HTML, PDF) and the files the schedule wrote."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response

from hub.api.auth import Principal
from hub.api.context import ApiContext, ApiError, Ctx, Viewer, not_found
from hub.api.views.media import media
from hub.api.views.reports import ReportFile, ReportView
from hub.report_source import file_stem, list_files, parse_day, render, report
from hub.reports import PeriodKind, period_of

router = APIRouter(tags=["reports"])
MEDIA = {"csv": "text/csv; charset=utf-8", "html": "text/html; charset=utf-8", "pdf": "application/pdf"}


@router.get(
    "/reports/files",
    summary="Report files written on schedule, newest first",
    response_model=list[ReportFile],
    response_model_exclude_unset=True,
)
def files(ctx: ApiContext = Ctx, _: Principal = Viewer) -> list[dict[str, Any]]:
    return list_files(ctx.service.reports_dir)


@router.get(
    "/reports/files/{name}",
    summary="One scheduled report file",
    response_class=Response,
    responses=media(binary=("application/pdf", "application/octet-stream"), text=("text/csv", "text/html")),
)
def file(name: str, ctx: ApiContext = Ctx, _: Principal = Viewer) -> Response:
    folder = ctx.service.reports_dir
    path = folder / name
    if (
        "/" in name
        or name.startswith(".")
        or name.endswith(".part")
        or not path.is_file()
        or path.parent != folder
    ):
        raise not_found("报表 report", name)
    fmt = path.suffix.lstrip(".")
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    return Response(path.read_bytes(), media_type=MEDIA.get(fmt, "application/octet-stream"), headers=headers)


@router.get(
    "/reports/{kind}",
    summary="The daily, weekly, monthly, quarterly or yearly report holding `day` (default today)",
    response_model=ReportView,
    response_model_exclude_unset=True,
    responses=media(binary=("application/pdf",), text=("text/csv", "text/html")),
)
def on_demand(
    kind: PeriodKind,
    ctx: ApiContext = Ctx,
    _: Principal = Viewer,
    day: str | None = Query(None, pattern=r"^\d{4}-\d{2}-\d{2}$"),
    format: Literal["json", "csv", "html", "pdf"] = "json",
) -> dict[str, Any] | Response:
    try:
        period = period_of(kind, parse_day(day, ctx.service), ctx.service.cfg.timezone)
    except (ValueError, OverflowError) as exc:
        raise ApiError(422, "invalid", f"日期不合法 (not a date): {day}") from exc
    if format == "json":
        return report(ctx.service, period).to_json()
    headers = {"Content-Disposition": f'attachment; filename="{file_stem(period)}.{format}"'}
    if format == "html":
        headers = {}
    return Response(render(ctx.service, period, format), media_type=MEDIA[format], headers=headers)

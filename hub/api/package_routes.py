"""A person's recording coverage and packages (hub/coverage.py, hub/packages.py).

Operators ask for a package (one is also built at each release); every viewer sees its parts,
coverage and index and plays its videos; the archive and the records inside it (names, the
whole log about the person) go to supervisors, who hand the case over.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import FileResponse

from hub.api.auth import Principal
from hub.api.context import ApiContext, ApiError, Ctx, Operator, Supervisor, Viewer, not_found
from hub.api.views.media import media
from hub.api.views.packages import CoverageView, PackageQueued, PackageView
from hub.coverage_watch import person_coverage
from hub.packages import PackageDesk

router = APIRouter(tags=["packages"])


def _desk(ctx: ApiContext) -> PackageDesk:
    desk = ctx.service.packages
    if desk is None:
        raise ApiError(503, "not_running", "the hub is not running")
    return desk


def _person(ctx: ApiContext, person: str) -> dict[str, Any]:
    doc = ctx.queries.projection("person", person)
    if doc is None:
        raise not_found("人员 person", person)
    return doc


@router.get("/persons/{person}/coverage", summary="Custody time on camera (录像覆盖)",
            response_model=CoverageView)  # fmt: skip
def coverage(person: str, ctx: ApiContext = Ctx, _: Principal = Viewer) -> dict[str, Any]:
    found = person_coverage(ctx.queries, _person(ctx, person), ctx.service.clock.now_ms()).as_dict()
    names = {r.id: r.name for r in ctx.service.cfg.rooms}
    for piece in found["uncovered"]:
        piece["room_name"] = names.get(piece["room"], piece["room"]) if piece["room"] else None
    return found


@router.post(
    "/persons/{person}/packages", status_code=202, summary="Build the person's package (一人一档)",
    response_model=PackageQueued,
)  # fmt: skip
def request_package(person: str, ctx: ApiContext = Ctx, who: Principal = Operator) -> dict[str, Any]:
    _person(ctx, person)
    return {"package": _desk(ctx).request(person, "request", who.username)}


@router.get("/persons/{person}/packages", summary="The person's packages", response_model=list[PackageView])
def person_packages(person: str, ctx: ApiContext = Ctx, _: Principal = Viewer) -> list[dict[str, Any]]:
    _person(ctx, person)
    return sorted(_desk(ctx).of_person(person), key=lambda p: -int(p["created"]))


@router.get("/packages/{package}", summary="One package: status, parts, coverage", response_model=PackageView)
def get_package(package: str, ctx: ApiContext = Ctx, _: Principal = Viewer) -> dict[str, Any]:
    found = _desk(ctx).get(package)
    if found is None:
        raise not_found("打包 package", package)
    return found


@router.get(
    "/packages/{package}/files/{name:path}", summary="A file of a ready package (parts play in browsers)",
    response_class=FileResponse, responses=media(binary=("video/mp4", "image/jpeg", "application/json")),
)  # fmt: skip
def package_file(package: str, name: str, ctx: ApiContext = Ctx, who: Principal = Viewer) -> FileResponse:
    path = _desk(ctx).file(package, name, private=who.may("supervisor"))
    if path is None:
        raise not_found("打包文件 package file", name)
    kind = {".mp4": "video/mp4", ".jpg": "image/jpeg"}.get(path.suffix, "application/json")
    return FileResponse(path, media_type=kind, headers={"Cache-Control": "private, max-age=86400"})


@router.get(
    "/packages/{package}/archive", summary="The whole package as one signed archive (刻盘附卷)",
    response_class=FileResponse, responses=media(binary=("application/zip",)),
)  # fmt: skip
def package_archive(package: str, ctx: ApiContext = Ctx, _: Principal = Supervisor) -> FileResponse:
    path = _desk(ctx).archive(package)
    if path is None:
        raise not_found("打包 package", package)
    return FileResponse(path, media_type="application/zip", filename=f"casewatch-package-{package}.zip")


@router.post(
    "/cases/{case}/packages", status_code=202, summary="The case's package: all its persons (一案一打包)",
    response_model=PackageQueued,
)  # fmt: skip
def request_case_package(case: str, ctx: ApiContext = Ctx, who: Principal = Operator) -> dict[str, Any]:
    if ctx.queries.projection("case", case) is None:
        raise not_found("案件 case", case)
    persons = sorted(str(p["id"]) for p in ctx.queries.projections("person") if p.get("case") == case)
    if not persons:
        raise ApiError(409, "no_persons", f"案件 {case} 无登记人员 (nobody registered for this case)")
    return {"package": _desk(ctx).request_case(case, persons, who.username)}


@router.get("/cases/{case}/packages", summary="The case's packages", response_model=list[PackageView])
def case_packages(case: str, ctx: ApiContext = Ctx, _: Principal = Viewer) -> list[dict[str, Any]]:
    return sorted(_desk(ctx).of_case(case), key=lambda p: -int(p["created"]))

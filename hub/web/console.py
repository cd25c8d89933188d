"""The operators' console (一屏监督) served by the hub: login, the live overview, the alert desk.

Pages are rendered on the server (Jinja2) and filled by ``static/console.js`` from the JSON API,
under the viewer's own role; ``/api/v1/stream`` (server-sent events) tells the page when to fetch
again. A console session is the API's signed token in an HttpOnly, SameSite=Strict cookie; every
form and every script request that changes something carries the session's CSRF token. A browser
without a session is sent to the login page (303), whatever it asked for. Nothing personal goes
into a URL: pages are addressed by room, camera and alert ids only.
"""

from __future__ import annotations

import asyncio
import hmac
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape

from hub.api.auth import Principal
from hub.api.context import SESSION_COOKIE, ApiContext, Ctx, Viewer, client_address, not_found
from hub.api.views.media import media
from hub.api.views.registry import WatchReply
from hub.report_source import parse_day
from hub.watching import WATCH_S
from hub.web.texts import DEFAULT_LANG, LANGS, table, text

HERE = Path(__file__).parent
LANG_COOKIE = "cw_lang"
LOGIN_COOKIE = "cw_login"
HEARTBEAT_S = 15.0
_env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]))

pages = APIRouter(include_in_schema=False)
stream = APIRouter(tags=["console"])


def _lang(request: Request) -> str:
    wanted = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE) or DEFAULT_LANG
    return wanted if wanted in LANGS else DEFAULT_LANG


def _render(
    request: Request, ctx: ApiContext, name: str, page: str, user: Principal | None, **extra: Any
) -> HTMLResponse:
    lang = _lang(request)
    session = request.cookies.get(SESSION_COOKIE, "")
    csrf = extra.pop("csrf", None) or (ctx.auth.csrf(session) if session else "")
    html = _env.get_template(name).render(
        t=lambda key: text(key, lang), texts=table(lang), lang=lang, page=page, user=user, csrf=csrf,
        center_name=ctx.service.cfg.name or ctx.service.cfg.center, timezone=ctx.service.cfg.timezone,
        **extra,
    )  # fmt: skip
    response = HTMLResponse(html, headers={"Cache-Control": "no-store"})  # framing: hub/api/guards.py
    if request.query_params.get("lang") in LANGS:
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, samesite="strict")
    return response


def _secure(ctx: ApiContext) -> bool:
    """Cookies only over HTTPS when the hub serves it (or sits behind a proxy that does)."""
    return bool(ctx.service.cfg.http.cookies_secure)


def _session_user(request: Request, ctx: ApiContext) -> Principal | None:
    token = request.cookies.get(SESSION_COOKIE)
    return ctx.auth.token(token) if token else None


def _to_login(request: Request | None = None) -> RedirectResponse:
    """To the login page, and back to the page asked for afterwards (a wall screen's kiosk URL)."""
    if request is None or request.url.path == "/console/login":
        return RedirectResponse("/console/login", status_code=303)
    asked = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/console/login?{urlencode({'next': asked})}", status_code=303)


async def _form(request: Request) -> dict[str, str]:
    body = (await request.body())[:16_384].decode("utf-8", errors="replace")
    try:
        return {k: v[0] for k, v in parse_qs(body, max_num_fields=20).items()}
    except ValueError:  # more fields than any of our forms has: treated as an empty form
        return {}


@pages.get("/")
def root() -> RedirectResponse:
    return RedirectResponse("/console/", status_code=303)


def _next(value: str | None) -> str:
    """Where to go after logging in: a console page of this hub only (a wall screen's own URL)."""
    if (
        value
        and value.startswith("/console/")
        and "//" not in value
        and "\\" not in value
        and len(value) < 2000
    ):
        return value
    return "/console/"


@pages.get("/console/login")
def login_page(request: Request, ctx: ApiContext = Ctx) -> HTMLResponse:
    nonce = secrets.token_urlsafe(24)
    after = _next(request.query_params.get("next"))
    response = _render(request, ctx, "login.html", "login", None, csrf=nonce, error=None, after=after)
    response.set_cookie(
        LOGIN_COOKIE, nonce, httponly=True, samesite="strict", max_age=3600, secure=_secure(ctx)
    )
    return response


@pages.post("/console/login", response_model=None)
async def login(request: Request, ctx: ApiContext = Ctx) -> Response:
    form = await _form(request)
    nonce = request.cookies.get(LOGIN_COOKIE, "")
    lang = _lang(request)
    username = form.get("username", "")[:64]
    if not nonce or not hmac.compare_digest(nonce, form.get("csrf", "")):
        return _to_login()  # a login form this browser was not given
    address = client_address(request)
    if ctx.auth.locked(username, address):
        error = text("login_locked", lang)
        await asyncio.to_thread(ctx.audit_session, username, "login_locked", "console")
    else:
        password = form.get("password", "")
        principal = await asyncio.to_thread(ctx.auth.check_password, username, password, address)
        await asyncio.to_thread(
            ctx.audit_session, username, "login" if principal is not None else "login_failed", "console"
        )
        if principal is not None:
            token, expires = ctx.auth.issue(principal)
            response = RedirectResponse(_next(form.get("next")), status_code=303)
            max_age = max(1, (expires - ctx.now_ms()) // 1000)
            response.set_cookie(
                SESSION_COOKIE, token, httponly=True, samesite="strict", max_age=max_age, secure=_secure(ctx)
            )
            response.delete_cookie(LOGIN_COOKIE)
            return response
        error = text("login_failed", lang)
    page = _render(
        request, ctx, "login.html", "login", None, csrf=nonce, error=error, after=_next(form.get("next"))
    )
    page.status_code = 401
    return page


@pages.post("/console/logout")
async def logout(request: Request, ctx: ApiContext = Ctx) -> RedirectResponse:
    form = await _form(request)
    token = request.cookies.get(SESSION_COOKIE, "")
    response = _to_login()
    if token and hmac.compare_digest(form.get("csrf", ""), ctx.auth.csrf(token)):
        user = ctx.auth.token(token)
        ctx.auth.revoke(token)
        response.delete_cookie(SESSION_COOKIE)  # only a logout the page itself asked for
        # pictures of people kept by the browser (cacheable snapshots) go with the session
        response.headers["Clear-Site-Data"] = '"cache"'
        if user is not None:
            await asyncio.to_thread(ctx.audit_session, user.username, "logout", "console")
    return response


@pages.get("/console/", response_model=None)
def overview(request: Request, ctx: ApiContext = Ctx) -> Response:
    user = _session_user(request, ctx)
    if user is None:
        return _to_login(request)
    return _render(request, ctx, "overview.html", "overview", user)


@pages.get("/console/patrol", response_model=None)
def patrol(request: Request, ctx: ApiContext = Ctx) -> Response:
    """The camera wall the legal unit patrols (滚动轮巡): risk first, cycling page by page. With
    ``?kiosk=1`` a wall screen of its own: no chrome, its grid, dwell, screen name and agents
    (sites) in the URL (``grid``, ``dwell``, ``screen``, ``agents=box-01,box-02``)."""
    user = _session_user(request, ctx)
    if user is None:
        return _to_login(request)
    query = request.query_params
    wall = {
        "kiosk": query.get("kiosk") == "1",
        "grid": _bounded(query.get("grid"), 1, 6, 3),
        "dwell": _bounded(query.get("dwell"), 2, 600, 10),
        "screen": (query.get("screen") or "")[:64],
        "agents": [a for a in (query.get("agents") or "").split(",") if a][:64],
    }
    return _render(request, ctx, "patrol.html", "patrol", user, wall=wall)


@pages.get("/console/plans", response_model=None)
def plans_page(request: Request, ctx: ApiContext = Ctx) -> Response:
    """The live floor plans (平面图): rooms coloured by their worst open alert, who is where, the
    cameras; admins upload plans and draw rooms and cameras on them here."""
    user = _session_user(request, ctx)
    if user is None:
        return _to_login(request)
    rooms = [{"id": r.id, "name": r.name} for r in ctx.service.cfg.rooms]
    return _render(request, ctx, "plans.html", "plans", user, rooms=rooms)


def _bounded(text: str | None, low: int, high: int, default: int) -> int:
    try:
        return min(high, max(low, int(text or default)))
    except ValueError:
        return default


@pages.get("/console/alerts", response_model=None)
def alerts(request: Request, ctx: ApiContext = Ctx) -> Response:
    user = _session_user(request, ctx)
    if user is None:
        return _to_login(request)
    rules = [{"id": r.id, "title": r.title} for r in ctx.service.rules.rules]
    return _render(request, ctx, "alerts.html", "alerts", user, rules=rules, rooms=ctx.service.cfg.rooms)


@pages.get("/console/persons/{person}", response_model=None)
def person_page(person: str, request: Request, ctx: ApiContext = Ctx) -> Response:
    user = _session_user(request, ctx)
    if user is None:
        return _to_login(request)
    return _render(request, ctx, "person.html", "person", user, person=person)


@pages.get("/console/reports", response_model=None)
def reports_page(request: Request, ctx: ApiContext = Ctx) -> Response:
    user = _session_user(request, ctx)
    if user is None:
        return _to_login(request)
    today = parse_day(None, ctx.service).isoformat()
    return _render(request, ctx, "reports.html", "reports", user, today=today)


@pages.get("/console/admin", response_model=None)
def admin_page(request: Request, ctx: ApiContext = Ctx) -> Response:
    user = _session_user(request, ctx)
    if user is None:
        return _to_login(request)
    if not user.may("admin"):
        return HTMLResponse(text("admin_only", _lang(request)), status_code=403)
    return _render(request, ctx, "admin.html", "admin", user)


@stream.get(
    "/stream",
    summary="Server-sent events: a `change` notice whenever alerts or projections change",
    response_class=StreamingResponse,
    responses=media(text=("text/event-stream",)),
)
async def live(request: Request, ctx: ApiContext = Ctx, _: Principal = Viewer) -> StreamingResponse:
    feed = ctx.service.live

    async def events() -> AsyncIterator[bytes]:
        listener = feed.subscribe()  # inside: a stream dropped before its first byte leaves nothing
        try:
            yield b": casewatch live\n\n"
            while not await request.is_disconnected():
                try:
                    notice = await asyncio.wait_for(listener.queue.get(), HEARTBEAT_S)
                except TimeoutError:
                    yield b": keepalive\n\n"
                    continue
                yield f"event: change\ndata: {notice}\n\n".encode()
        finally:
            feed.unsubscribe(listener)

    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return StreamingResponse(events(), media_type="text/event-stream", headers=headers)


@stream.get(
    "/cameras/{camera}/snapshot",
    summary="The camera's latest snapshot (JPEG) as its agent published it",
    response_class=Response,
    responses=media(binary=("image/jpeg",)),
)
def snapshot(
    camera: str, ctx: ApiContext = Ctx, _: Principal = Viewer, t: int | None = Query(None, ge=0, le=2**53)
) -> Response:
    """``t`` = the picture's own time (``snapshot_ms`` of ``/cameras``): that URL then names one
    picture for good, so the browser may keep it (a wall redrawn every second fetches each picture
    once, not 36 tiles a second); any other ``t`` gets the newest picture, never cached."""
    found = ctx.service.snapshots.get(camera, ctx.service.camera_owner(camera))
    if found is None:
        raise not_found("快照 snapshot", camera)
    cache = "private, max-age=3600, immutable" if t == found.ts else "no-store"
    return Response(found.jpeg, media_type="image/jpeg", headers={"Cache-Control": cache})


@stream.post(
    "/cameras/{camera}/watch",
    status_code=202,
    summary="Someone is watching this camera: its agent sends pictures often for the next 10 s",
    response_model=WatchReply,
)
def watch(camera: str, ctx: ApiContext = Ctx, _: Principal = Viewer) -> WatchReply:
    """Renewed by the patrol wall every few seconds while a camera is enlarged (protocol/watch.py)."""
    owner = ctx.service.watch(camera)
    if owner is None:
        raise not_found("摄像头 camera", camera)
    return WatchReply(camera=camera, agent=owner, seconds=WATCH_S)


def mount(app: FastAPI, prefix: str) -> None:
    app.include_router(pages)
    app.include_router(stream, prefix=prefix)
    app.mount("/console/static", StaticFiles(directory=HERE / "static"), name="console-static")

"""The bureau console a multi-centre hub's workers serve: every centre a user sees, on one page.

Each worker serves it (``http.host``/``http.port``, or ``--http-port``), so any worker, alive or
newly started, shows all centres, whoever owns them: the page reads the store (``hub.bureau``),
not the worker's own centres. Users are the hub file's ``users:``; ``centers:`` on a user scopes
what they see (a station's officer: their station; empty: the whole bureau). The page holds the
API token for the tab's life (sessionStorage), sends it as a bearer token, and writes every value
as text, under a same-origin-only content policy.

What a centre's own console does (intake, bands, alert actions, reports) is not here yet: see
docs/scaling.md.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Depends, FastAPI, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from pydantic import BaseModel

import foundation
from foundation.settings import read_secret
from hub.api.auth import Authenticator, Principal
from hub.api.context import client_address
from hub.api.schemas import LoginBody, LoginReply
from hub.bureau import BureauReads
from hub.config import HubConfig
from hub.errors import StoreError
from hub.reports import PeriodKind, Scoring, period_of
from protocol.clock import Clock

HERE = Path(__file__).parent / "web"
POLICY = "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"


class CentreView(BaseModel):
    id: str
    name: str
    units: list[str]
    owner: str | None
    console: str | None
    """The centre's own console on its owner (intake, bands, alert actions); None between owners."""
    open_alerts: dict[str, int]


class BureauError(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status


def bureau_app(cfg: HubConfig, reads: BureauReads, clock: Clock) -> FastAPI:
    secret = read_secret(cfg.http.session_secret, cfg.http.session_secret_file)
    auth = Authenticator.from_users(
        cfg.users, secret.encode() if secret else None, cfg.http.session_ttl_min, clock
    )
    app = FastAPI(title="casewatch bureau", version=foundation.__version__, docs_url=None, redoc_url=None,
                  openapi_url="/api/v1/bureau/openapi.json")  # fmt: skip

    @app.exception_handler(BureauError)
    def _refused(_request: Request, exc: BureauError) -> JSONResponse:
        return JSONResponse({"error": "refused", "detail": str(exc)}, status_code=exc.status)

    @app.exception_handler(StoreError)
    def _store(_request: Request, exc: StoreError) -> JSONResponse:
        return JSONResponse(
            {"error": "store", "detail": f"存储不可用 (store unavailable): {exc}"}, status_code=503
        )

    _api(app, cfg, reads, clock, auth)
    _pages(app, cfg)
    return app


def _api(app: FastAPI, cfg: HubConfig, reads: BureauReads, clock: Clock, auth: Authenticator) -> None:
    order = [c.id for c in cfg.centers]

    def caller(request: Request) -> Principal:
        scheme, _sep, token = request.headers.get("authorization", "").partition(" ")
        found = auth.token(token.strip()) if scheme.lower() == "bearer" and token else None
        if found is None:
            raise BureauError(401, "请先登录 (log in first)")
        return found

    def scope(who: Principal) -> list[str]:
        return [c for c in order if who.sees(c)]

    @app.post("/api/v1/login", summary="Exchange a username and password for a bearer token")
    def login(body: LoginBody, request: Request) -> LoginReply:
        address = client_address(request)
        if auth.locked(body.username, address):
            raise BureauError(429, "尝试次数过多，请五分钟后再试 (too many failed logins; wait 5 minutes)")
        who = auth.check_password(body.username, body.password, address)
        if who is None:
            raise BureauError(401, "用户名或密码错误 (wrong username or password)")
        token, expires = auth.issue(who)
        return LoginReply(token=token, expires_ms=expires, username=who.username, role=who.role,
                          display_name=who.display_name)  # fmt: skip

    @app.get("/api/v1/bureau/centres", summary="Each centre this user sees: owner, open alerts by level")
    def centres(who: Principal = Depends(caller)) -> list[CentreView]:  # noqa: B008
        return [CentreView(**c) for c in reads.centres_view(scope(who))]

    @app.get("/api/v1/bureau/alerts", summary="Alerts of the centres this user sees, newest first")
    def alerts(
        who: Principal = Depends(caller),  # noqa: B008
        open_only: bool = Query(True, alias="open"),
        limit: int = Query(200, ge=1, le=500),
    ) -> list[dict[str, Any]]:
        return reads.alerts(scope(who), open_only=open_only, limit=limit)

    @app.get(
        "/api/v1/bureau/report", summary="A period's report over the centres this user sees: units ranked"
    )
    def report(
        who: Principal = Depends(caller),  # noqa: B008
        period: PeriodKind = "monthly",
        day: date | None = None,
    ) -> dict[str, Any]:
        """``day``: a day of the period (default: today, in the hub's zone)."""
        today = datetime.now(ZoneInfo(cfg.timezone)).date()
        rules = cfg.reports.evaluation
        scoring = Scoring(rules.base, tuple(rules.deduct.items()), rules.late)
        chosen = period_of(period, day or today, cfg.timezone)
        return reads.report(scope(who), chosen, clock.now_ms(), scoring)


def _pages(app: FastAPI, cfg: HubConfig) -> None:
    @app.get("/bureau", include_in_schema=False)
    def page() -> HTMLResponse:
        html = (HERE / "templates" / "bureau.html").read_text(encoding="utf-8")
        title = cfg.name or cfg.center
        html = html.replace("{{title}}", _escape(title)).replace("{{timezone}}", _escape(cfg.timezone))
        return HTMLResponse(html, headers=_headers())

    @app.get("/bureau.js", include_in_schema=False)
    def script() -> FileResponse:
        return FileResponse(HERE / "static" / "bureau.js", media_type="text/javascript", headers=_headers())

    @app.get("/bureau.css", include_in_schema=False)
    def style() -> FileResponse:
        return FileResponse(HERE / "static" / "bureau.css", media_type="text/css", headers=_headers())


def _headers() -> dict[str, str]:
    return {
        "Content-Security-Policy": POLICY,
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
    }


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")

"""The hub's HTTP JSON API under ``/api/v1`` (OpenAPI at ``/api/v1/openapi.json``).

Reads answer from what is committed; writes become hub records in the hash-chained log, signed
for the caller, and return once committed (``Created``: the key, the chain position, the event id).
The interactive docs page is off: it loads scripts from a CDN that police intranets cannot reach;
feed the OpenAPI document to any local tool instead.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

import foundation
from hub.api import (
    admin_routes,
    alert_routes,
    custody,
    finding_routes,
    log_routes,
    model_routes,
    package_routes,
    patrol_routes,
    plan_routes,
    registry,
    report_routes,
)
from hub.api.auth import Principal
from hub.api.context import ApiContext, ApiError, Ctx, Viewer, caller, client_address
from hub.api.schemas import LoginBody, LoginReply
from hub.api.views.custody import Me

PREFIX = "/api/v1"
session = APIRouter(tags=["session"])


@session.post("/login", summary="Exchange a username and password for a bearer token")
def login(body: LoginBody, request: Request, ctx: ApiContext = Ctx) -> LoginReply:
    address = client_address(request)
    if ctx.auth.locked(body.username, address):
        ctx.audit_session(body.username, "login_locked", "api")
        raise ApiError(429, "locked", "尝试次数过多，请五分钟后再试 (too many failed logins; wait 5 minutes)")
    principal = ctx.auth.check_password(body.username, body.password, address)
    if principal is None:
        ctx.audit_session(body.username, "login_failed", "api")
        raise ApiError(401, "unauthenticated", "用户名或密码错误 (wrong username or password)")
    ctx.audit_session(principal.username, "login", "api")
    token, expires = ctx.auth.issue(principal)
    return LoginReply(
        token=token, expires_ms=expires, username=principal.username, role=principal.role,
        display_name=principal.display_name,
    )  # fmt: skip


@session.post("/logout", status_code=204, summary="End this token's session")
def logout(request: Request, ctx: ApiContext = Ctx, who: Principal = Viewer) -> None:
    scheme, _sep, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        ctx.auth.revoke(token.strip())
        ctx.audit_session(who.username, "logout", "api")


@session.get("/me", summary="Who this token or credential belongs to")
def me(request: Request, ctx: ApiContext = Ctx) -> Me:
    principal = caller(request, ctx)
    return Me(username=principal.username, role=principal.role, display_name=principal.display_name)


def create_app(ctx: ApiContext) -> FastAPI:
    app = FastAPI(
        title="casewatch hub API",
        version=foundation.__version__,
        description="执法办案管理中心监督系统 — intake, bands, officers, cases, approvals, alerts, the log.",
        openapi_url=f"{PREFIX}/openapi.json",
        docs_url=None,
        redoc_url=None,
    )
    app.state.ctx = ctx
    routers = (
        session,
        custody.router,
        registry.router,
        alert_routes.router,
        log_routes.router,
        report_routes.router,
        admin_routes.router,
        model_routes.router,
        finding_routes.router,
        patrol_routes.router,
        plan_routes.router,
        package_routes.router,
    )
    for router in routers:
        app.include_router(router, prefix=PREFIX)
    from hub.web import console

    console.mount(app, PREFIX)

    @app.exception_handler(ApiError)
    def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        headers = {"WWW-Authenticate": 'Bearer realm="casewatch"'} if exc.status == 401 else None
        body = {"error": exc.error, "detail": exc.detail, "problems": exc.problems}
        return JSONResponse(body, status_code=exc.status, headers=headers)

    @app.exception_handler(RequestValidationError)
    def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            {"field": ".".join(str(p) for p in e.get("loc", ())), "message": str(e.get("msg", ""))}
            for e in exc.errors()
        ]
        detail = "; ".join(f"{p['field']}: {p['message']}" for p in problems[:5])
        return JSONResponse(
            {"error": "invalid", "detail": f"请求不合法 (invalid request): {detail}", "problems": problems},
            status_code=422,
        )

    return app

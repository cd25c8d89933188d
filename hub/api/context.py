"""What every route needs: the running hub, who is asking, and one error shape.

Routes get the ``ApiContext`` and the caller's ``Principal`` through FastAPI dependencies;
``need("operator")`` refuses a lower role with 403 and no credentials with 401. Errors leave as
``ApiError`` → ``{"error", "detail", "problems"}`` with a Chinese message and English in brackets.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
from collections.abc import Callable
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fastapi import Depends, Request

from hub.api.auth import UNKNOWN_USER, Authenticator, Principal, Role
from hub.api.schemas import Created
from hub.errors import StoreError
from hub.queries import Queries
from hub.records import RecordConflict
from protocol.errors import SchemaError

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from hub.service import HubService


class ApiError(Exception):
    def __init__(self, status: int, error: str, detail: str, problems: list[dict[str, Any]] | None = None):
        super().__init__(detail)
        self.status = status
        self.error = error
        self.detail = detail
        self.problems = problems or []


def not_found(what: str, key: str) -> ApiError:
    return ApiError(404, "not_found", f"未找到{what} (no such {what}): {key}")


def conflict(detail: str) -> ApiError:
    return ApiError(409, "conflict", detail)


@dataclass
class ApiContext:
    service: HubService
    auth: Authenticator
    queries: Queries

    def write(
        self, kind: str, subject: dict[str, str], data: dict[str, Any], who: Principal, ts: int | None = None
    ) -> Created:
        """Log a hub record for ``who`` and return once it is committed (the audit trail)."""
        key = next((v for v in subject.values() if v), "")
        try:
            stored = self.service.record(kind, subject, data, by=who.username, ts=ts)
        except SchemaError as exc:
            problems = [{"field": f, "message": m} for f, m in exc.problems]
            raise ApiError(422, "invalid", f"记录不合法 (invalid record): {exc}", problems) from exc
        except RecordConflict as exc:
            raise conflict(f"与记录冲突 (conflicts with the log): {exc}") from exc
        except (FutureTimeout, TimeoutError) as exc:
            raise ApiError(503, "busy", "中心枢纽未能及时写入 (the hub did not commit in time)") from exc
        except StoreError as exc:
            raise ApiError(503, "store", f"存储不可用 (store unavailable): {exc}") from exc
        return Created(id=key, pos=stored.pos, event=stored.id, kind=kind)

    def audit_session(self, username: str, action: str, via: str) -> None:
        """Log a login, logout or refusal; a hub too busy to commit it must not block the user."""
        name = self.auth.audit_name(username)
        if name == UNKNOWN_USER:  # not a user's action: counted, not logged (a flood must not fill the log)
            self.auth.unknown_attempts += 1
            return
        try:
            self.service.record("user.session", {}, {"action": action, "via": via}, by=name, timeout_s=5)
        except Exception as exc:  # the audit record is best effort; the refusal itself stands
            log.warning("session %s of %s not logged: %s", action, self.auth.audit_name(username), exc)

    def now_ms(self) -> int:
        return self.service.clock.now_ms()


def context(request: Request) -> ApiContext:
    ctx: ApiContext = request.app.state.ctx
    return ctx


SESSION_COOKIE = "cw_session"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def _credentials(request: Request, ctx: ApiContext) -> Principal | None:
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie and "authorization" not in request.headers:
        principal = ctx.auth.token(cookie)
        if principal is not None and request.method not in SAFE_METHODS:
            sent = request.headers.get(CSRF_HEADER, "")
            if not hmac.compare_digest(sent, ctx.auth.csrf(cookie)):
                raise ApiError(
                    403, "csrf", "请求来源校验失败，请刷新页面 (CSRF token missing or wrong: reload the page)"
                )
        return principal
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value:
        return ctx.auth.token(value.strip())
    if scheme.lower() == "basic" and value:
        try:
            username, _, password = base64.b64decode(value.strip()).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return ctx.auth.basic(username, password, client_address(request))
    return None


def client_address(request: Request) -> str:
    """The peer's address (behind a reverse proxy: the proxy's — rate-limit there too)."""
    return request.client.host if request.client is not None else "local"


def caller(request: Request, ctx: ApiContext = Depends(context)) -> Principal:  # noqa: B008
    principal = _credentials(request, ctx)
    if principal is None:
        raise ApiError(401, "unauthenticated", "请先登录 (log in first: Bearer token or Basic)")
    return principal


def need(role: Role) -> Callable[..., Principal]:
    def check(principal: Principal = Depends(caller)) -> Principal:  # noqa: B008
        if not principal.may(role):
            raise ApiError(
                403, "forbidden", f"权限不足 (needs role {role}; {principal.username} is {principal.role})"
            )
        return principal

    return check


Viewer = Depends(need("viewer"))
Operator = Depends(need("operator"))
Supervisor = Depends(need("supervisor"))
Admin = Depends(need("admin"))
Ctx = Depends(context)

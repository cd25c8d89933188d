"""Admins manage console accounts and rules (issue 7: "only admins manage users and rules").

Accounts: the hub file's users are listed read-only (change them in the file); the others are
made, re-roled, disabled, re-enabled and given new passwords here. A disabled account or a reset
password ends that user's sessions at once. An admin cannot disable or demote their own account,
so a centre is never left without an admin by a slip.

Rules: on or off, limit and stage thresholds over the rule files (hub/rule_admin.py); the change
is checked here, logged as ``rule.change`` and applied by the ingest thread before the reply.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from hub.accounts import MIN_PASSWORD, Account
from hub.api.auth import Principal
from hub.api.context import Admin, ApiContext, ApiError, Ctx, Viewer, conflict, not_found
from hub.api.schemas import Created
from hub.api.views.admin import RuleView, UserView
from hub.passwords import hash_password
from hub.records import RuleStage
from hub.rule_admin import RuleChangeError, changed_rule, rule_view

router = APIRouter(tags=["admin"])
Role = Literal["viewer", "operator", "supervisor", "admin"]
Password = Annotated[str, Field(min_length=MIN_PASSWORD, max_length=256)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NewUser(_Body):
    username: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{2,32}$")]
    display_name: Annotated[str, Field(max_length=32)] | None = None
    role: Role
    password: Password


class UserChange(_Body):
    display_name: Annotated[str, Field(max_length=32)] | None = None
    role: Role | None = None
    disabled: bool | None = None
    password: Password | None = None


class RuleBody(_Body):
    enabled: bool
    limit_ms: Annotated[int, Field(ge=1000)] | None = None
    stages: list[RuleStage] = Field(default_factory=list, max_length=5)
    comment: Annotated[str, Field(max_length=500)] = ""


def _refresh(ctx: ApiContext, *, log_out: str | None = None) -> None:
    ctx.auth.set_users(ctx.service.accounts.active_users(), log_out=log_out)


@router.get(
    "/users",
    summary="Console accounts: the hub file's (read-only) and those made here",
    response_model=list[UserView],
    response_model_exclude_unset=True,
)
def list_users(ctx: ApiContext = Ctx, _: Principal = Admin) -> list[dict[str, Any]]:
    return [a.view() for a in ctx.service.accounts.all()]


@router.post("/users", status_code=201, summary="Make a console account")
def create_user(body: NewUser, ctx: ApiContext = Ctx, who: Principal = Admin) -> Created:
    accounts = ctx.service.accounts
    if accounts.get(body.username) is not None:
        raise conflict(f"用户已存在 (user {body.username} exists)")
    data = {
        "action": "create",
        "username": body.username,
        "role": body.role,
        "display_name": body.display_name,
    }
    account = Account(
        body.username, body.display_name, body.role, hash_password(body.password), False, "console"
    )
    if not accounts.create(account, by=who.username, now_ms=ctx.now_ms()):  # the name, atomically
        raise conflict(f"用户已存在 (user {body.username} exists)")
    try:
        created = ctx.write("user.account", {}, data, who)
    except Exception:
        accounts.delete(body.username)  # not logged: not made
        raise
    _refresh(ctx)
    return created.model_copy(update={"id": body.username})


@router.patch("/users/{username}", summary="Change a console account's role, name, password or state")
def change_user(username: str, body: UserChange, ctx: ApiContext = Ctx, who: Principal = Admin) -> Created:
    accounts = ctx.service.accounts
    account = accounts.get(username)
    if account is None:
        raise not_found("用户 user", username)
    if account.source == "file":
        raise conflict(f"{username} 在中心配置文件中管理 (managed in the hub file: edit users: there)")
    if username == who.username and (body.disabled or (body.role is not None and body.role != "admin")):
        raise conflict("不能停用或降级自己的账号 (you cannot disable or demote your own account)")
    if body.disabled is not None and body.disabled != account.disabled:
        action = "disable" if body.disabled else "enable"
    elif body.password is not None:
        action = "password"
    else:
        action = "update"
    new = replace(
        account,
        display_name=body.display_name if body.display_name is not None else account.display_name,
        role=body.role or account.role,
        disabled=account.disabled if body.disabled is None else body.disabled,
        password_hash=hash_password(body.password) if body.password else account.password_hash,
        sessions_from_ms=ctx.now_ms() if (body.disabled or body.password) else account.sessions_from_ms,
    )
    data = {"action": action, "username": username, "role": new.role, "display_name": new.display_name}
    created = ctx.write("user.account", {}, data, who)
    accounts.save(new, by=who.username, now_ms=ctx.now_ms())
    _refresh(ctx, log_out=username if (new.disabled or body.password) else None)
    return created.model_copy(update={"id": username})


@router.get(
    "/rules",
    summary="The rules, with their legal basis and levels, and any console change",
    response_model=list[RuleView],
    response_model_exclude_unset=True,
)
def list_rules(ctx: ApiContext = Ctx, _: Principal = Viewer) -> list[dict[str, Any]]:
    service = ctx.service
    base = {r.id: r for r in service.file_rules.rules}
    return [rule_view(r, base[r.id], service.rule_overrides.get(r.id)) for r in service.rules.rules]


@router.put(
    "/rules/{rule_id}",
    summary="Turn a rule on or off, change its limit and stage thresholds",
    response_model=RuleView,
    response_model_exclude_unset=True,
)
def change_rule(
    rule_id: str, body: RuleBody, ctx: ApiContext = Ctx, who: Principal = Admin
) -> dict[str, Any]:
    service = ctx.service
    base = {r.id: r for r in service.file_rules.rules}
    if rule_id not in base:
        raise not_found("规则 rule", rule_id)
    data = body.model_dump(mode="json", exclude_none=True)
    data["stages"] = [s.model_dump(exclude_none=True) for s in body.stages]
    try:
        changed_rule(base[rule_id], data)
    except RuleChangeError as exc:
        raise ApiError(422, "invalid", f"规则修改不合法 (invalid change): {exc}") from exc
    ctx.write("rule.change", {}, {"rule": rule_id, **data}, who)
    now = {r.id: r for r in service.rules.rules}[rule_id]
    return rule_view(now, base[rule_id], service.rule_overrides.get(rule_id))

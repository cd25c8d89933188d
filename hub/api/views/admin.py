"""Console accounts and the rules in force."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from hub.api.auth import Role
from hub.domain import (
    ReadModel,
)
from hub.rules.levels import Level
from hub.rules.spec import Shape


class UserView(ReadModel):
    """A console account as the admin page shows it (never the password hash)."""

    username: str
    display_name: str | None
    role: Role
    disabled: bool
    source: Literal["file", "console"] = Field(description="The hub file (read-only) or the console.")
    updated_ms: int | None
    updated_by: str | None


class RuleStageView(ReadModel):
    """One level of a rule and its thresholds (ms after the start, fraction of the limit, count)."""

    level: Level
    after_ms: int | None
    at: float | None
    count: int | None


class RuleBaseline(ReadModel):
    """What the rule file itself says (before any console change)."""

    enabled: bool
    limit_ms: int | None
    stages: list[RuleStageView]


class RuleView(ReadModel):
    """A rule now, as its file says, and whether a console change is laid over it."""

    id: str
    title: str
    basis: str
    shape: Shape
    enabled: bool
    limit_ms: int | None
    stages: list[RuleStageView]
    file: RuleBaseline
    overridden: bool
    tags: list[str]

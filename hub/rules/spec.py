"""The rule file format (``configs/rules/*.yaml``), validated with the same care as configs.

A file holds ``calendars`` (named daily windows in the hub's time zone) and ``rules``. Every rule
has an ``id``, a Chinese ``title``, its legal ``basis``, a ``shape`` and staged ``levels``:

- ``hold``: ``start`` opens an episode per ``key``; a level fires when the episode (and the
  level's own ``while`` test, if any) has held for ``after``; ``stop`` (or a sample of the start
  kind that no longer matches) clears it.
- ``instant``: a hold whose levels fire at once; without ``stop`` each match is its own alert.
- ``deadline``: ``start`` not followed by ``stop`` within ``limit``; levels at fractions of the
  limit (``at``) or fixed times (``after``); ``extend`` (an approval) sets a new limit; ``rearm``
  restarts the clock (a meal record restarts "no meal in 6 h").
- ``sequence``: ``then`` without a ``first`` for the same key within ``within`` before it.
- ``count``: ``count`` matches of ``match`` per key within ``window``.

Durations are ``90s``, ``5m``, ``12h``, ``2d`` or plain seconds. ``docs/rules.md`` is the
reference for integrators.
"""

from __future__ import annotations

import re
from datetime import time
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from hub.notify.templates import Role as NotifyRole
from hub.notify.templates import check_template
from hub.rules.levels import Level
from protocol.fields import Key

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}


def parse_duration(value: Any) -> int:
    """``"90s"``, ``"5m"``, ``"12h"``, ``"2d"`` or seconds -> milliseconds."""
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or text like 90s, 5m, 12h, 2d")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return int(value * 1000)
    if isinstance(value, str):
        found = _DURATION.match(value)
        if found:
            return int(float(found.group(1)) * _UNIT_MS[found.group(2) or "s"])
    raise ValueError(f"{value!r} is not a duration (like 90s, 5m, 12h, 2d)")


DurationMs = Annotated[int, BeforeValidator(parse_duration)]
RuleId = Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9-]{1,40}$")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Operator = Literal["eq", "ne", "gt", "ge", "lt", "le", "in", "not_in", "exists"]


class Match(Strict):
    """Which facts: a kind (or kinds), all of ``where``, and at least one of ``any`` if given.

    ``where`` maps a fact path (``data.heart_rate``, ``room_type``, ``flags.minor``) to a value
    (equal), a list (one of) or operators ``{gt: 120}``, ``{in: [...]}``, ``{exists: true}``.
    """

    kind: str | list[str]
    where: dict[str, Any] = Field(default_factory=dict)
    any: list[dict[str, Any]] = Field(default_factory=list)

    @model_validator(mode="after")
    def _operators(self) -> Match:
        for clause in (self.where, *self.any):
            for path, test in clause.items():
                if isinstance(test, dict):
                    unknown = set(test) - set(Operator.__args__)  # type: ignore[attr-defined]
                    if unknown:
                        raise ValueError(f"{path}: unknown operator(s) {sorted(unknown)}")
        return self

    @property
    def kinds(self) -> tuple[str, ...]:
        return (self.kind,) if isinstance(self.kind, str) else tuple(self.kind)


class Stage(Strict):
    """One level of a rule and when it is reached."""

    level: Level
    after: DurationMs | None = Field(None, description="Held (or elapsed) this long.")
    at: float | None = Field(None, gt=0, le=10, description="Deadlines: this fraction of the limit.")
    count: int | None = Field(None, ge=1, description="Count rules: this many in the window.")
    while_: Match | dict[str, Any] | None = Field(None, alias="while")
    """Holds: this level needs its own test to hold too (a higher heart rate for orange)."""

    def while_match(self, kinds: tuple[str, ...]) -> Match | None:
        if self.while_ is None:
            return None
        if isinstance(self.while_, Match):
            return self.while_
        return Match.model_validate({"kind": list(kinds), **self.while_})


class Extend(Strict):
    """An approval that moves a deadline: a fixed new limit or one read from the fact."""

    match: Match
    limit: DurationMs | None = None
    limit_hours_from: str | None = Field(None, description="Fact path holding the new limit in hours.")

    @model_validator(mode="after")
    def _one(self) -> Extend:
        if (self.limit is None) == (self.limit_hours_from is None):
            raise ValueError("give one of limit or limit_hours_from")
        return self


class Window(Strict):
    """A daily window in local time; ``from`` after ``to`` wraps midnight (21:00–07:00)."""

    from_: time = Field(..., alias="from")
    to: time

    def contains(self, local: time) -> bool:
        if self.from_ <= self.to:
            return self.from_ <= local < self.to
        return local >= self.from_ or local < self.to


Shape = Literal["hold", "instant", "deadline", "sequence", "count"]


class Rule(Strict):
    id: RuleId
    title: str = Field(..., min_length=2, max_length=80)
    basis: str = Field(..., min_length=2, max_length=400, description="Legal basis, cited.")
    shape: Shape
    enabled: bool = True
    key: list[str] = Field(..., min_length=1, description="Fact paths that correlate start and stop.")
    start: Match | None = None
    stop: Match | None = None
    rearm: Match | None = None
    extend: list[Extend] = Field(default_factory=list)
    first: Match | None = None
    then: Match | None = None
    match: Match | None = None
    limit: DurationMs | None = None
    within: DurationMs | None = None
    window: DurationMs | None = None
    calendar: str | Window | None = Field(None, description="Only starts inside this daily window.")
    levels: list[Stage] = Field(..., min_length=1)
    tags: list[Key] = Field(
        default_factory=list,
        description="Labels for the console and reports; custody-time: the time-in-centre deadline.",
    )
    notify: list[NotifyRole] = Field(default_factory=list, description="Roles told at every level, too.")
    message: Annotated[str, AfterValidator(check_template)] | None = Field(
        None, max_length=200, description="This rule's SMS text (notify.sms_template's fields)."
    )
    ticket: bool = Field(
        False,
        description="A rectification ticket at every level (manual findings): it stays open until "
        "verified and escalates when unrectified, like orange and red alerts of other rules.",
    )

    @model_validator(mode="after")
    def _shape(self) -> Rule:
        need: dict[str, tuple[str, ...]] = {
            "hold": ("start",),
            "instant": ("start",),
            "deadline": ("start", "stop", "limit"),
            "sequence": ("first", "then", "within"),
            "count": ("match", "window"),
        }
        missing = [name for name in need[self.shape] if getattr(self, name) is None]
        if missing:
            raise ValueError(f"shape {self.shape} needs {', '.join(missing)}")
        for stage in self.levels:
            self._check_stage(stage)
        ranks = [stage.level for stage in self.levels]
        if len(set(ranks)) != len(ranks):
            raise ValueError("each level may appear once")
        return self

    def _check_stage(self, stage: Stage) -> None:
        if self.shape == "count" and stage.count is None:
            raise ValueError(f"count rule level {stage.level} needs count")
        if self.shape == "deadline" and (stage.at is None) == (stage.after is None):
            raise ValueError(f"deadline level {stage.level} needs one of at (fraction) or after")
        if self.shape == "hold" and stage.after is None:
            raise ValueError(f"hold level {stage.level} needs after")
        if self.shape != "hold" and self.shape != "instant" and stage.while_ is not None:
            raise ValueError("while belongs to hold and instant rules")


class FindingItem(Strict):
    """A risk item an operator may raise by hand (远程提醒) that no rule detects by itself."""

    id: RuleId
    title: str = Field(..., min_length=2, max_length=80)
    basis: str = Field("", max_length=400)
    level: Level = Field("orange", description="The level the console proposes.")


class RulePart(Strict):
    """One file as written: its calendars may be used by rules of other files of the same hub."""

    calendars: dict[str, Window] = Field(default_factory=dict)
    rules: list[Rule] = Field(default_factory=list)
    findings: list[FindingItem] = Field(
        default_factory=list, description="Manual risk items for the console's reminders (远程提醒)."
    )


class RuleFile(RulePart):
    """All rule files of a hub, merged: every calendar a rule names must be defined somewhere."""

    @model_validator(mode="after")
    def _calendars(self) -> RuleFile:
        for rule in self.rules:
            if isinstance(rule.calendar, str) and rule.calendar not in self.calendars:
                raise ValueError(f"rule {rule.id}: calendar {rule.calendar!r} is not defined")
        ids = [r.id for r in self.rules] + [f.id for f in self.findings]
        twice = sorted({i for i in ids if ids.count(i) > 1})
        if twice:
            raise ValueError(
                f"finding item id(s) {', '.join(twice)} used twice (rules and findings share ids)"
            )
        return self

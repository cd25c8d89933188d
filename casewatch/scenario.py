"""Demo scenarios: a YAML timeline of what happens in a simulated centre and the alerts it must
raise (docs/demo.md). Pure: parsing, checking and the verdict; casewatch/scenario_run.py plays it.

A scenario drives the hub's API (intake, bindings, records, cases — as the centre's staff would),
the wristband and cabinet simulators, the scene generator's camera (``cameras:``, drawn live by
the agent), and the components themselves (``kill``/``start``, for the failure tests). Its
``rules:`` shorten thresholds for the demo, applied as an admin's logged rule changes at t=0.
``expect:`` lists the alerts in the order they must come, each with a time window; any alert
level that no expectation names is unexpected.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from casewatch.simulation.scene import scene_from_doc
from foundation.errors import ConfigError

Level = Literal["green", "blue", "yellow", "orange", "red"]
Component = Literal["hub", "agent", "broker"]
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
NOW = re.compile(r"^now(?:\s*-\s*((?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+))?$")


def seconds(value: object) -> float:
    """``90``, ``"90s"``, ``"7h59m30s"`` -> seconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str) and value and _PART.sub("", value) == "":
        return sum(float(n) * _UNIT_S[u] for n, u in _PART.findall(value))
    raise ValueError(f"{value!r} is not a duration (like 90s, 5m, 7h59m30s)")


Seconds = Annotated[float, Field(ge=0)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RuleTuning(_Strict):
    """A rule's demo thresholds: its limit and the ``after`` of the levels named."""

    limit: str | float | None = None
    stages: dict[Level, str | float] = Field(default_factory=dict)
    enabled: bool = True

    def limit_ms(self) -> int | None:
        return None if self.limit is None else int(seconds(self.limit) * 1000)

    def stage_ms(self) -> dict[str, int]:
        return {level: int(seconds(v) * 1000) for level, v in self.stages.items()}


class Step(_Strict):
    """One thing that happens at ``at`` seconds: exactly one of the action fields."""

    at: Seconds
    say: str | None = Field(None, max_length=200, description="Shown in the progress display.")
    post: str | None = Field(None, pattern=r"^/", description="POST to the hub API (path under /api/v1).")
    put: str | None = Field(None, pattern=r"^/", description="PUT to the hub API.")
    body: dict[str, Any] = Field(default_factory=dict)
    band: dict[str, Any] | None = Field(None, description="Wristband simulator: band, anchor, strap_open…")
    cabinet: str | None = Field(None, description="Cabinet simulator: 'finger P1001', 'open s01', …")
    kill: Component | None = None
    start: Component | None = None

    @model_validator(mode="after")
    def _one_action(self) -> Step:
        actions = [
            n for n in ("post", "put", "band", "cabinet", "kill", "start") if getattr(self, n) is not None
        ]
        if len(actions) > 1:
            raise ValueError(f"one action per step, got {', '.join(actions)}")
        if not actions and self.say is None:
            raise ValueError("a step needs an action (post, put, band, cabinet, kill, start) or say")
        if self.band is not None and "band" not in self.band:
            raise ValueError("a band step names its band")
        return self


class Expect(_Strict):
    rule: Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9-]{1,40}$")]
    level: Level | None = None
    cleared: bool = False
    within: tuple[Seconds, Seconds] = Field(..., description="[from, to] seconds after t=0.")

    @model_validator(mode="after")
    def _what(self) -> Expect:
        if (self.level is None) == (not self.cleared):
            raise ValueError("an expectation is either a level or cleared: true")
        if self.within[0] > self.within[1]:
            raise ValueError("within: [from, to] with from ≤ to")
        return self

    @property
    def label(self) -> str:
        return f"{self.rule} {'cleared' if self.cleared else self.level}"


class Scenario(_Strict):
    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")]
    title: str = Field("", max_length=200)
    duration_s: Annotated[float, Field(gt=0, le=3600)]
    rules: dict[str, RuleTuning] = Field(default_factory=dict)
    cameras: dict[str, dict[str, Any]] = Field(default_factory=dict)
    steps: list[Step] = Field(default_factory=list)
    expect: list[Expect] = Field(default_factory=list)
    recording: bool = False
    """Record the cameras (docs/recording.md): custody coverage is checked, packages built at release."""
    packages: list[Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]] = Field(
        default_factory=list, max_length=10
    )
    """Persons whose package must be built and verify after the scenario (the demo waits for them)."""

    @model_validator(mode="after")
    def _consistent(self) -> Scenario:
        for camera, doc in self.cameras.items():
            try:
                scene_from_doc(doc)
            except ValueError as exc:
                raise ValueError(f"cameras.{camera}: {exc}") from None
        late = [s.at for s in self.steps if s.at > self.duration_s]
        if late:
            raise ValueError(f"steps at {late} s are after duration_s {self.duration_s}")
        for tuning in self.rules.values():
            tuning.limit_ms()
            tuning.stage_ms()
        return self


def load_scenario(path: Path) -> Scenario:
    """Read and check a scenario file; ``ConfigError`` says what is wrong and where."""
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the scenario: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    try:
        return Scenario.model_validate(doc)
    except ValidationError as exc:
        problems = [
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors(include_url=False)
        ]
        raise ConfigError(f"{path}: " + "; ".join(problems[:5])) from None


def resolve_times(value: Any, now_ms: int) -> Any:
    """Body values ``"now"`` and ``"now-7h59m"`` become ms timestamps (an intake dated 7 h 59 min
    ago is how a demo reaches an 8-hour custody limit in a minute); everything else is kept."""
    if isinstance(value, dict):
        return {k: resolve_times(v, now_ms) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve_times(v, now_ms) for v in value]
    if isinstance(value, str):
        found = NOW.match(value.strip())
        if found:
            return now_ms - int(seconds(found.group(1)) * 1000) if found.group(1) else now_ms
    return value


# --- the verdict -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Seen:
    """An alert reaching a level, or being cleared, at ``t`` seconds after t=0."""

    rule: str
    level: str | None  # None: cleared
    t: float
    alert: str

    @property
    def label(self) -> str:
        return f"{self.rule} {self.level or 'cleared'}"


def observations(alerts: list[dict[str, Any]], epoch_ms: int) -> list[Seen]:
    """What the alert documents say happened: each level an alert reached (``reached``: when, by
    event time) and its clearing, in time order."""
    out = []
    for alert in alerts:
        for level, at in (alert.get("reached") or {}).items():
            out.append(Seen(str(alert["rule"]), str(level), (int(at) - epoch_ms) / 1000, str(alert["id"])))
        if alert.get("cleared_ms") is not None:
            cleared = (int(alert["cleared_ms"]) - epoch_ms) / 1000
            out.append(Seen(str(alert["rule"]), None, cleared, str(alert["id"])))
    return sorted(out, key=lambda s: (s.t, s.label))


@dataclass
class Verdict:
    matched: list[tuple[Expect, Seen]] = field(default_factory=list)
    missing: list[Expect] = field(default_factory=list)
    early_or_late: list[tuple[Expect, Seen]] = field(default_factory=list)
    out_of_order: list[tuple[Expect, Seen]] = field(default_factory=list)
    unexpected: list[Seen] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not (self.missing or self.early_or_late or self.out_of_order or self.unexpected)

    def problems(self) -> list[str]:
        out = [f"missing: {e.label} within {list(e.within)} s" for e in self.missing]
        out += [f"{e.label} at {s.t:.1f} s, outside {list(e.within)} s" for e, s in self.early_or_late]
        out += [f"{e.label} at {s.t:.1f} s came before an earlier expectation" for e, s in self.out_of_order]
        out += [f"unexpected: {s.label} at {s.t:.1f} s (alert {s.alert})" for s in self.unexpected]
        return out


def judge(expect: list[Expect], seen: list[Seen]) -> Verdict:
    """Pair each expectation with the first unpaired observation of its rule and level (the one
    in its window if there is one); check the windows and the order. A level no expectation took
    is unexpected; a clearing nobody asked about is not (ending is what a condition should do)."""
    verdict = Verdict()
    free = list(seen)
    last_t = float("-inf")
    for want in expect:
        level = None if want.cleared else want.level
        candidates = [s for s in free if s.rule == want.rule and s.level == level]
        if not candidates:
            verdict.missing.append(want)
            continue
        inside = [s for s in candidates if want.within[0] <= s.t <= want.within[1]]
        chosen = inside[0] if inside else candidates[0]
        free.remove(chosen)
        if not inside:
            verdict.early_or_late.append((want, chosen))
        elif chosen.t + 1e-6 < last_t:
            verdict.out_of_order.append((want, chosen))
        else:
            verdict.matched.append((want, chosen))
        last_t = max(last_t, chosen.t)
    verdict.unexpected = [s for s in free if s.level is not None]
    return verdict

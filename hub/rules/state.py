"""What a rule remembers per key, and what it tells the alert book.

One ``KeyState`` per (rule, key): the open episode if any (when it started, which levels fired
and when, each level's hold start, the deadline's limit), the ``first`` times a sequence rule has
seen, its recent violations (so a late ``first`` can correct them), and a count rule's window.
It serialises to JSON so the hub persists it with the batch that changed it and restores it at
start: nothing pending is lost to a restart (Home Assistant's ``for:`` is).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from hub.rules.levels import Level

SignalType = Literal["level", "clear", "correction"]


def alert_id(rule: str, key: tuple[str, ...], started: int) -> str:
    """Deterministic, so replaying a batch after a crash updates the same alert, never a twin."""
    digest = hashlib.sha256("\x1f".join((rule, *key, str(started))).encode()).hexdigest()
    return f"{rule}-{digest[:12]}"


@dataclass(frozen=True)
class Signal:
    """A change the alert book must apply: a level reached, a clear, or a correction."""

    type: SignalType
    rule: str
    alert: str
    key: tuple[str, ...]
    at_ms: int
    """Event time of the change: a level's due time, or the time of the fact that caused it."""
    now_ms: int
    """Hub clock when it was decided."""
    level: Level | None = None
    late: bool = False
    """Decided later than it was due (the hub was down, or the fact arrived late)."""
    reason: str = ""
    pos: int = 0
    """Store position of the fact that caused it; a timer's signal carries its episode's opening
    fact (0: not from the store)."""
    context: dict[str, Any] = field(default_factory=dict)
    ticket: bool = False
    """The rule's ``ticket``: the alert stays open until verified whatever its level."""


@dataclass(slots=True)
class Episode:
    alert: str
    started: int
    context: dict[str, Any] = field(default_factory=dict)
    fired: dict[Level, int] | None = None
    """Level -> event time it was reached (None until the first: most episodes never fire)."""
    since: dict[Level, int | None] | None = None
    """Holds: level -> since when its test has held (None: not holding now)."""
    limit: int | None = None
    """Deadlines: the limit in force (ms after ``started``)."""
    pos: int = 0
    """Store position of the fact that opened it (a condition's start): evidence of every level
    it reaches, even one a timer fires long after (0: not from the store, or stored before this)."""

    def mark(self, level: Level, at: int) -> None:
        if self.fired is None:
            self.fired = {}
        self.fired[level] = at

    def hold_since(self, level: Level, ts: int | None) -> None:
        if self.since is None:
            self.since = {}
        self.since[level] = ts


@dataclass(slots=True)
class KeyState:
    """Slotted, and its sequences are replaced rather than appended to (an empty one is the
    shared ``()``): a hub holds one per person and rule, 100,000s of them."""

    episode: Episode | None = None
    firsts: Sequence[int] = ()
    violations: Sequence[tuple[str, int]] = ()
    """Sequence rules: (alert, time of the ``then`` fact) of recent violations."""
    times: Sequence[int] = ()
    """Count rules: times of matches inside the window."""

    def empty(self) -> bool:
        return self.episode is None and not self.firsts and not self.violations and not self.times

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.episode is not None:
            out["episode"] = asdict(self.episode)
        if self.firsts:
            out["firsts"] = list(self.firsts)
        if self.violations:
            out["violations"] = [list(v) for v in self.violations]
        if self.times:
            out["times"] = list(self.times)
        return out

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> KeyState:
        ep = doc.get("episode")
        if ep:
            ep = {**ep, "fired": ep.get("fired") or None, "since": ep.get("since") or None}
        return cls(
            episode=Episode(**ep) if ep else None,
            firsts=doc.get("firsts") or (),
            violations=[(str(a), int(t)) for a, t in doc["violations"]] if doc.get("violations") else (),
            times=doc.get("times") or (),
        )

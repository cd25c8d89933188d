"""How each rule shape turns facts and the passing of time into signals, per key.

Pure functions of (rule, key state, fact or now): no clock reads, no I/O. The engine owns keys,
timers and persistence; a shape says what a fact does to one key's state and when that state
next needs the clock (``due``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hub.rules.facts import Fact, matches
from hub.rules.levels import Level, rank
from hub.rules.spec import Rule, Stage
from hub.rules.state import Episode, KeyState, Signal, SignalType, alert_id

LATE_GRACE_MS = 5_000
"""A signal decided more than this after it was due is marked late."""
MAX_FIRSTS = 16
MAX_VIOLATIONS = 16


def context_of(fact: Fact) -> dict[str, Any]:
    """What an alert should say about where and whom (``Fact.context``, shared, read-only)."""
    return fact.context


class Shape:
    def __init__(self, rule: Rule, in_calendar: Callable[[int], bool]) -> None:
        self.rule = rule
        self.in_calendar = in_calendar
        self.ranked: list[Stage] = sorted(rule.levels, key=lambda s: rank(s.level))

    def kinds(self) -> set[str]:
        out: set[str] = set()
        for m in (
            self.rule.start,
            self.rule.stop,
            self.rule.rearm,
            self.rule.first,
            self.rule.then,
            self.rule.match,
        ):
            if m is not None:
                out.update(m.kinds)
        for ext in self.rule.extend:
            out.update(ext.match.kinds)
        return out

    def on_fact(self, st: KeyState, key: tuple[str, ...], fact: Fact, now: int) -> list[Signal]:
        raise NotImplementedError

    def due(self, st: KeyState) -> int | None:
        return None

    def fire(self, st: KeyState, key: tuple[str, ...], now: int) -> list[Signal]:
        return []

    # helpers ----------------------------------------------------------------------------------
    def signal(
        self,
        type_: SignalType,
        ep: Episode,
        key: tuple[str, ...],
        at: int,
        now: int,
        *,
        level: Level | None = None,
        reason: str = "",
        pos: int = 0,
    ) -> Signal:
        return Signal(
            type_,
            self.rule.id,
            ep.alert,
            key,
            at,
            now,
            level=level,
            late=now - at > LATE_GRACE_MS,
            reason=reason,
            pos=pos or ep.pos,
            context=ep.context,
            ticket=self.rule.ticket,
        )

    def open(self, st: KeyState, key: tuple[str, ...], fact: Fact) -> Episode:
        ep = Episode(
            alert=alert_id(self.rule.id, key, fact.ts),
            started=fact.ts,
            context=context_of(fact),
            pos=fact.pos,
        )
        st.episode = ep
        return ep

    def reached(self, ep: Episode) -> int:
        return max((rank(lv) for lv in ep.fired or ()), default=-1)

    def fire_due(
        self, st: KeyState, key: tuple[str, ...], now: int, due_of: Callable[[Episode, Stage], int | None]
    ) -> list[Signal]:
        """Every level not yet reached whose time has come, lowest first."""
        ep = st.episode
        if ep is None:
            return []
        out = []
        for stage in self.ranked:
            at = due_of(ep, stage)
            if (
                at is None
                or at > now
                or stage.level in (ep.fired or ())
                or rank(stage.level) <= self.reached(ep)
            ):
                continue
            ep.mark(stage.level, at)
            out.append(self.signal("level", ep, key, at, now, level=stage.level))
        return out

    def next_due(self, ep: Episode, due_of: Callable[[Episode, Stage], int | None]) -> int | None:
        top = self.reached(ep)
        dues = [d for s in self.ranked if rank(s.level) > top and (d := due_of(ep, s)) is not None]
        return min(dues, default=None)

    def close(
        self, st: KeyState, key: tuple[str, ...], at: int, now: int, reason: str, pos: int
    ) -> list[Signal]:
        """End the episode at event time ``at``; a level fired for a time after it is corrected."""
        ep = st.episode
        if ep is None:
            return []
        st.episode = None
        out = []
        for level, fired_at in sorted((ep.fired or {}).items(), key=lambda kv: kv[1]):
            if fired_at > at:
                out.append(
                    self.signal(
                        "correction",
                        ep,
                        key,
                        at,
                        now,
                        level=level,
                        pos=pos,
                        reason=f"{reason} at {at}, before level {level} was due at {fired_at}: "
                        "a fact arrived late; the level is withdrawn",
                    )
                )
        if ep.fired:
            out.append(self.signal("clear", ep, key, at, now, reason=reason, pos=pos))
        return out


class Hold(Shape):
    """``hold`` and ``instant``: a state that holds; levels after it has held long enough."""

    def _stage_holds(self, stage: Stage, fact: Fact) -> bool:
        test = stage.while_match(self.rule.start.kinds if self.rule.start else ())
        return test is None or matches(test, fact)

    def _due(self, ep: Episode, stage: Stage) -> int | None:
        since = (ep.since or {}).get(stage.level)
        return None if since is None else since + (stage.after or 0)

    def on_fact(self, st: KeyState, key: tuple[str, ...], fact: Fact, now: int) -> list[Signal]:
        rule = self.rule
        assert rule.start is not None
        if matches(rule.start, fact):
            ep = st.episode
            if ep is None:
                if not self.in_calendar(fact.ts):
                    return []
                ep = self.open(st, key, fact)
            for stage in self.ranked:
                holds = self._stage_holds(stage, fact)
                if not holds:
                    ep.hold_since(stage.level, None)
                elif (ep.since or {}).get(stage.level) is None:
                    ep.hold_since(stage.level, fact.ts)
            out = self.fire_due(st, key, max(now, fact.ts), self._due)
            if rule.stop is None and rule.shape == "instant":
                out += self.close(st, key, fact.ts, now, "instant", fact.pos)
            return [s if s.pos else _with_pos(s, fact.pos) for s in out]
        ends = (rule.stop is not None and matches(rule.stop, fact)) or (
            rule.stop is None and fact.kind in rule.start.kinds
        )
        if ends and st.episode is not None:
            return self.close(st, key, fact.ts, now, "cleared", fact.pos)
        return []

    def due(self, st: KeyState) -> int | None:
        return None if st.episode is None else self.next_due(st.episode, self._due)

    def fire(self, st: KeyState, key: tuple[str, ...], now: int) -> list[Signal]:
        return self.fire_due(st, key, now, self._due)


class Deadline(Shape):
    """A start not followed by its stop in time; levels at fractions of a movable limit."""

    def _due(self, ep: Episode, stage: Stage) -> int:
        """``after`` is set on the rule's base limit and scales with an extension (8 h of 12 -> 16 of 24)."""
        assert ep.limit is not None and self.rule.limit
        if stage.after is not None:
            return ep.started + stage.after * ep.limit // self.rule.limit
        assert stage.at is not None
        return ep.started + int(stage.at * ep.limit)

    def on_fact(self, st: KeyState, key: tuple[str, ...], fact: Fact, now: int) -> list[Signal]:
        rule = self.rule
        assert rule.start is not None and rule.stop is not None
        out: list[Signal] = []
        if st.episode is None and matches(rule.start, fact):
            if not self.in_calendar(fact.ts):
                return []
            ep = self.open(st, key, fact)
            ep.limit = rule.limit
        elif st.episode is not None and matches(rule.stop, fact):
            return self.close(st, key, fact.ts, now, "stopped", fact.pos)
        elif st.episode is not None and rule.rearm is not None and matches(rule.rearm, fact):
            limit = st.episode.limit
            context = st.episode.context
            out += self.close(st, key, fact.ts, now, "rearmed", fact.pos)
            ep = self.open(st, key, fact)
            ep.context, ep.limit = context, limit
        elif st.episode is not None:
            for ext in rule.extend:
                if matches(ext.match, fact):
                    new = ext.limit if ext.limit is not None else _hours(fact, ext.limit_hours_from)
                    if new is not None:
                        st.episode.limit = new
                    break
        out += self.fire_due(st, key, now, self._due)
        return [s if s.pos else _with_pos(s, fact.pos) for s in out]

    def due(self, st: KeyState) -> int | None:
        return None if st.episode is None else self.next_due(st.episode, self._due)

    def fire(self, st: KeyState, key: tuple[str, ...], now: int) -> list[Signal]:
        return self.fire_due(st, key, now, self._due)


class Sequence(Shape):
    """``then`` without a ``first`` for the same key within ``within`` before it (entry order)."""

    def on_fact(self, st: KeyState, key: tuple[str, ...], fact: Fact, now: int) -> list[Signal]:
        rule = self.rule
        assert rule.first is not None and rule.then is not None and rule.within is not None
        out: list[Signal] = []
        if matches(rule.first, fact):
            st.firsts = sorted([*st.firsts, fact.ts])[-MAX_FIRSTS:]
            kept = []
            for alert, then_ts in st.violations:
                if then_ts - rule.within <= fact.ts <= then_ts:
                    ep = Episode(alert=alert, started=then_ts)
                    out.append(
                        self.signal(
                            "correction",
                            ep,
                            key,
                            then_ts,
                            now,
                            pos=fact.pos,
                            reason=f"{fact.kind} at {fact.ts} arrived late: "
                            f"the step at {then_ts} was in order",
                        )
                    )
                else:
                    kept.append((alert, then_ts))
            st.violations = kept
        if matches(rule.then, fact) and self.in_calendar(fact.ts):
            if any(fact.ts - rule.within <= t <= fact.ts for t in st.firsts):
                return out
            if any(fact.ts - rule.within <= t <= fact.ts for _a, t in st.violations):
                return out  # already flagged: moving on inside the area is the same breach
            ep = self.open(st, key, fact)
            for stage in self.ranked:
                ep.mark(stage.level, fact.ts)
                out.append(self.signal("level", ep, key, fact.ts, now, level=stage.level, pos=fact.pos))
            out += self.close(st, key, fact.ts, now, "instant", fact.pos)
            st.violations = [*st.violations, (ep.alert, fact.ts)][-MAX_VIOLATIONS:]
        return out

    def due(self, st: KeyState) -> int | None:
        """When what this key remembers has aged out (``within`` after its newest time)."""
        assert self.rule.within is not None
        times = [*st.firsts, *(t for _a, t in st.violations)]
        return max(times) + self.rule.within if times else None

    def fire(self, st: KeyState, key: tuple[str, ...], now: int) -> list[Signal]:
        """Forget firsts and violations older than ``within``: a released person's state goes."""
        within = self.rule.within
        assert within is not None
        st.firsts = [t for t in st.firsts if t + within > now] or ()
        st.violations = [(a, t) for a, t in st.violations if t + within > now] or ()
        return []


class Count(Shape):
    """``count`` matches within a sliding ``window`` per key."""

    def on_fact(self, st: KeyState, key: tuple[str, ...], fact: Fact, now: int) -> list[Signal]:
        rule = self.rule
        assert rule.match is not None and rule.window is not None
        if not matches(rule.match, fact) or not self.in_calendar(fact.ts):
            return []
        st.times = sorted(t for t in [*st.times, fact.ts] if t > fact.ts - rule.window)
        ep = st.episode or self.open(st, key, fact)
        out = []
        for stage in self.ranked:
            assert stage.count is not None
            if (
                len(st.times) >= stage.count
                and stage.level not in (ep.fired or ())
                and rank(stage.level) > self.reached(ep)
            ):
                ep.mark(stage.level, fact.ts)
                out.append(self.signal("level", ep, key, fact.ts, now, level=stage.level, pos=fact.pos))
        if not ep.fired:
            st.episode = None
        return out

    def due(self, st: KeyState) -> int | None:
        assert self.rule.window is not None
        return st.times[0] + self.rule.window if st.times else None

    def fire(self, st: KeyState, key: tuple[str, ...], now: int) -> list[Signal]:
        assert self.rule.window is not None
        window = self.rule.window
        expired = [t for t in st.times if t + window <= now]
        st.times = [t for t in st.times if t + window > now]
        lowest = min(s.count or 0 for s in self.ranked)
        if st.episode is not None and len(st.times) < lowest:
            at = max(expired) + window if expired else now
            return self.close(st, key, at, now, "window passed", 0)
        return []


def _hours(fact: Fact, path: str | None) -> int | None:
    value = fact.get(path) if path else None
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return int(value * 3_600_000)
    return None


def _with_pos(signal: Signal, pos: int) -> Signal:
    from dataclasses import replace

    return replace(signal, pos=pos)


SHAPES: dict[str, type[Shape]] = {
    "hold": Hold,
    "instant": Hold,
    "deadline": Deadline,
    "sequence": Sequence,
    "count": Count,
}

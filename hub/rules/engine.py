"""The rule engine: facts in, signals out, timers as absolute deadlines. No I/O, no clock reads.

The caller passes ``now`` (the hub's Clock) to ``on_fact`` and ``tick``; rules compute from event
time (``fact.ts``), timers fire when ``now`` passes their due time. Every (rule, key) whose state
changed is reported by ``take_dirty`` so the hub persists it in the same transaction as the
alerts it caused; ``restore`` at start rebuilds the timers, and the first ``tick`` fires what came
due while the hub was down, marked late.
"""

from __future__ import annotations

import glob
import hashlib
import heapq
import json
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml
from pydantic import ValidationError

from foundation.errors import ConfigError
from hub.rules.facts import Fact
from hub.rules.shapes import SHAPES, Shape
from hub.rules.spec import FindingItem, Rule, RuleFile, RulePart, Window
from hub.rules.state import KeyState, Signal

StateKey = tuple[str, tuple[str, ...]]


def rule_file_paths(patterns: Iterable[str], base: Path) -> list[Path]:
    """Rule files named in a config (globs relative to its folder), in a stable order."""
    out: list[Path] = []
    for pattern in patterns:
        full = base / pattern  # an absolute pattern stays absolute
        found = sorted(Path(p) for p in glob.glob(str(full))) if glob.has_magic(pattern) else [full]
        if not found:
            raise ConfigError(f"rules: {pattern!r} matches no file (relative to {base})")
        out.extend(p for p in found if p not in out)
    return out


def load_rule_files(paths: Iterable[Path]) -> RuleFile:
    """All rules of the given files as one, refusing duplicate ids and unknown calendars."""
    calendars: dict[str, Window] = {}
    rules: list[Rule] = []
    findings: list[FindingItem] = []
    seen: dict[str, Path] = {}
    for path in paths:
        try:
            doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            part = RulePart.model_validate(doc)
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read rule file: {exc.strerror or exc}") from exc
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
        except ValidationError as exc:
            problems = [
                f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}"
                for err in exc.errors(include_url=False)
            ]
            raise ConfigError(
                f"{path}: "
                + "; ".join(problems[:3])
                + (f"; and {len(problems) - 3} more" if len(problems) > 3 else "")
            ) from exc
        for rule in part.rules:
            if rule.id in seen:
                raise ConfigError(f"{path}: rule {rule.id} is already defined in {seen[rule.id]}")
            seen[rule.id] = path
        for name, window in part.calendars.items():
            if name in calendars and calendars[name] != window:
                raise ConfigError(f"{path}: calendar {name!r} is already defined with another window")
            calendars[name] = window
        rules.extend(part.rules)
        findings.extend(part.findings)
    try:
        return RuleFile.model_validate({"calendars": calendars, "rules": rules, "findings": findings})
    except ValidationError as exc:
        raise ConfigError("rules: " + "; ".join(e["msg"] for e in exc.errors(include_url=False))) from exc


class RuleEngine:
    def __init__(self, rules: RuleFile, tz: str = "Asia/Shanghai") -> None:
        self.tz = ZoneInfo(tz)
        self.rules = {r.id: r for r in rules.rules if r.enabled}
        self.shapes: dict[str, Shape] = {}
        self._by_kind: dict[str, list[Shape]] = {}
        for rule in self.rules.values():
            window = rules.calendars[rule.calendar] if isinstance(rule.calendar, str) else rule.calendar
            shape = SHAPES[rule.shape](rule, self._calendar(window))
            self.shapes[rule.id] = shape
            for kind in shape.kinds():
                self._by_kind.setdefault(kind, []).append(shape)
        self._spec = json.dumps(
            [tz, rules.model_dump(mode="json", by_alias=True)],
            sort_keys=True,
            ensure_ascii=False,
            default=str,
        )
        self._states: dict[StateKey, KeyState] = {}
        self._raw: dict[StateKey, str] = {}
        """Restored states not needed yet, as their JSON: parsed on first use (a quick restart)."""
        self._due: dict[StateKey, int] = {}
        self._heap: list[tuple[int, str, tuple[str, ...]]] = []
        self._dirty: set[StateKey] = set()

    def _calendar(self, window: Window | None):  # type: ignore[no-untyped-def]
        if window is None:
            return lambda ts: True
        tz = self.tz
        return lambda ts: window.contains(datetime.fromtimestamp(ts / 1000, UTC).astimezone(tz).time())

    # facts and time ---------------------------------------------------------------------------
    def on_fact(self, fact: Fact, now: int) -> list[Signal]:
        out: list[Signal] = []
        for shape in self._by_kind.get(fact.kind, ()):
            key = fact.key(shape.rule.key)
            if key is None:
                continue
            skey = (shape.rule.id, key)
            existing = self._get(skey)
            st = existing or KeyState()
            signals = shape.on_fact(st, key, fact, now)
            out += signals
            if signals or existing is not None or not st.empty():
                self._settle(skey, st, shape)
        return out

    def tick(self, now: int) -> list[Signal]:
        """Fire every timer due at ``now``; call it on a timer and once after ``restore``."""
        out: list[Signal] = []
        while self._heap and self._heap[0][0] <= now:
            due, rule_id, key = heapq.heappop(self._heap)
            skey = (rule_id, key)
            if self._due.get(skey) != due:
                continue  # superseded
            st = self._get(skey)
            shape = self.shapes.get(rule_id)
            if st is None or shape is None:
                self._due.pop(skey, None)
                continue
            del self._due[skey]
            out += shape.fire(st, key, now)
            self._settle(skey, st, shape)
        return out

    def next_due(self) -> int | None:
        while self._heap and self._due.get((self._heap[0][1], self._heap[0][2])) != self._heap[0][0]:
            heapq.heappop(self._heap)
        return self._heap[0][0] if self._heap else None

    def _settle(self, skey: StateKey, st: KeyState, shape: Shape) -> None:
        self._dirty.add(skey)
        if st.empty():
            self._states.pop(skey, None)
            self._due.pop(skey, None)
            return
        self._states[skey] = st
        due = shape.due(st)
        if due is None:
            self._due.pop(skey, None)
        elif self._due.get(skey) != due:
            self._due[skey] = due
            heapq.heappush(self._heap, (due, skey[0], skey[1]))

    # persistence ------------------------------------------------------------------------------
    def take_dirty(self) -> dict[StateKey, dict[str, object] | None]:
        """(rule, key) -> state to store, or None to delete; resets the dirty set."""
        out: dict[StateKey, dict[str, object] | None] = {}
        for skey in self._dirty:
            st = self._states.get(skey)
            out[skey] = st.to_json() if st is not None else None
        self._dirty.clear()
        return out

    def restore(
        self,
        rows: Iterable[tuple[str, tuple[str, ...], dict[str, object] | str]]
        | Iterable[tuple[str, tuple[str, ...], dict[str, object] | str, int | None]],
        *,
        trust_due: bool = False,
    ) -> int:
        """Load persisted states; states of rules no longer configured are dropped (and deleted).

        A row is ``(rule, key, state)`` or ``(rule, key, state, due_ms)``, the state as a dict or
        its JSON. With ``trust_due`` (the rules are the ones the dues were computed with: the hub
        compares ``digest``) a JSON state is kept unparsed until a fact or its timer needs it and
        its stored due goes straight onto the timer heap — restoring 300,000 states then costs
        a key parse each, not a state parse and a due computation.
        """
        n = 0
        heap_rows: list[tuple[int, str, tuple[str, ...]]] = []
        for row in rows:
            rule_id, key, doc = row[0], row[1], row[2]
            due = row[3] if len(row) > 3 else None
            shape = self.shapes.get(rule_id)
            skey = (rule_id, key)
            if shape is None:
                self._dirty.add(skey)
                continue
            n += 1
            if trust_due and isinstance(doc, str):
                self._states.pop(skey, None)
                self._raw[skey] = doc
                if due is not None:
                    self._due[skey] = int(due)
                    heap_rows.append((int(due), rule_id, key))
                continue
            state = KeyState.from_json(json.loads(doc) if isinstance(doc, str) else doc)
            self._settle(skey, state, shape)
        if heap_rows:
            self._heap.extend(heap_rows)
            heapq.heapify(self._heap)
        self._dirty = {k for k in self._dirty if k[0] not in self.shapes}
        return n

    def _get(self, skey: StateKey) -> KeyState | None:
        st = self._states.get(skey)
        if st is None and skey in self._raw:
            st = KeyState.from_json(json.loads(self._raw.pop(skey)))
            self._states[skey] = st
        return st

    @property
    def digest(self) -> str:
        """Names the rules, calendars and time zone that stored due times were computed with."""
        return hashlib.sha256(self._spec.encode()).hexdigest()

    def mark_all_dirty(self) -> None:
        """Every state is to be saved again (its due time was recomputed under changed rules)."""
        self._dirty.update(self._states)

    def state_due(self, skey: StateKey) -> int | None:
        return self._due.get(skey)

    def open_episodes(self) -> int:
        for skey in list(self._raw):
            self._get(skey)
        return sum(1 for st in self._states.values() if st.episode is not None)

    def pending_timers(self) -> int:
        return len(self._due)

    def state(self, rule_id: str, key: tuple[str, ...]) -> KeyState | None:
        return self._get((rule_id, key))

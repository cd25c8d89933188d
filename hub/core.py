"""The hub's judgement, without I/O: logged events in; alerts, bindings and timer states out.

``HubCore`` folds each stored event into the projections, shows the enriched fact to the rule
engine, applies the engine's signals and people's alert actions to the alert book, and collects
what changed (``Changes``) for the shell to persist in one transaction, publish and notify. Time
comes in as ``now``: live from the Clock, or each event's own time when the log is replayed
(``casewatch hub rebuild``), so a rebuild reproduces what live processing decided.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from hub.alerts import Alert, AlertBook, AlertError, Transition
from hub.projections import Projections
from hub.records import HUB_AGENT
from hub.rules.engine import RuleEngine, StateKey
from hub.rules.state import Signal
from hub.store import Stored
from protocol.registry import BandRegistration

log = logging.getLogger(__name__)


@dataclass
class Changes:
    pos: int = 0
    """Store position of the last event folded in (persisted as the rules' progress mark)."""
    rule_states: dict[StateKey, dict[str, object] | None] = field(default_factory=dict)
    alerts: list[Alert] = field(default_factory=list)
    transitions: list[Transition] = field(default_factory=list)
    projections: list[tuple[str, str, dict[str, Any] | None]] = field(default_factory=list)
    registry: dict[str, BandRegistration | None] = field(default_factory=dict)
    signals: int = 0
    rejected_actions: list[str] = field(default_factory=list)

    def empty(self) -> bool:
        return not (self.rule_states or self.alerts or self.transitions or self.projections or self.registry)


@dataclass
class HubCore:
    projections: Projections
    engine: RuleEngine
    book: AlertBook
    pos: int = 0
    load_alert: Callable[[str], Alert | None] | None = None
    """Closed alerts leave memory once stored; an action on one (a comment) loads it back."""
    _signals: int = 0
    _rejected: list[str] = field(default_factory=list)

    def process(self, stored: Iterable[Stored], now_ms: int) -> None:
        """Fold stored events in, live: timers that came due fire first, at ``now_ms``."""
        self.tick(now_ms)
        for event in stored:
            self._fold(event, now_ms)

    def replay(self, stored: Iterable[Stored]) -> None:
        """Fold events in on their own clock (a rebuild): each timer fires at its due time."""
        for event in stored:
            ts = _ts(event)
            self.tick(max(ts, 0))
            self._fold(event, ts)

    def tick(self, now_ms: int) -> None:
        self._apply(self.engine.tick(now_ms))
        self.book.tick(now_ms)

    def _fold(self, event: Stored, now_ms: int) -> None:
        try:
            doc = json.loads(event.body)
        except ValueError:  # the store holds only verified canonical JSON; never expected
            log.error("stored event %s is not JSON: skipped by the rules", event.pos)
            self.pos = event.pos
            return
        fact = self.projections.enrich(doc, event.pos)
        self.projections.apply(doc)
        if doc.get("agent") == HUB_AGENT and doc.get("kind") == "alert.action":
            self._act(doc)
        self._apply(self.engine.on_fact(fact, now_ms))
        self.pos = event.pos

    def _act(self, doc: dict[str, Any]) -> None:
        data = doc.get("data") or {}
        alert_id = (doc.get("subject") or {}).get("alert", "")
        if alert_id not in self.book.alerts and self.load_alert is not None:
            stored = self.load_alert(alert_id)
            if stored is not None:
                self.book.restore([stored])
        try:
            self.book.act(
                alert_id,
                data["action"],
                by=str(doc.get("source")),
                at_ms=int(doc["ts"]),
                comment=data.get("comment", ""),
                assignee=data.get("assignee"),
            )
        except AlertError as exc:
            # Checked before it was logged; a concurrent action can still have won the race.
            self._rejected.append(f"{alert_id}: {exc}")
            log.warning("alert action on %s not applied: %s", alert_id, exc)

    def _apply(self, signals: list[Signal]) -> None:
        for signal in signals:
            self.book.apply(signal)
        self._signals += len(signals)

    def take_changes(self, now_ms: int) -> Changes:
        alerts, transitions = self.book.take_changes()
        changes = Changes(
            pos=self.pos,
            rule_states=self.engine.take_dirty(),
            alerts=alerts,
            transitions=transitions,
            projections=self.projections.take_changes(),
            registry=self.projections.take_registry(now_ms),
            signals=self._signals,
            rejected_actions=self._rejected,
        )
        self._signals, self._rejected = 0, []
        return changes


def _ts(event: Stored) -> int:
    return int(event.ts)

"""The closed loop of an alert: found → acknowledged → assigned → rectified → verified → closed.

Pure state: the rule engine's signals raise, lift, clear and correct alerts; people move them
through the loop with an action, who did it and a comment. Every change appends a ``Transition``
(never rewritten). An alert below orange closes by itself once its condition clears; from orange
up — or at any level when its rule says ``ticket`` (manual findings) — it is a rectification
ticket and stays open until verified. A ticket not rectified within
``escalate_after_ms`` (48 h by default, RULES.md) rises one level, and again 48 h later.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from hub.rules.levels import TICKET_LEVEL, Level, higher, rank
from hub.rules.state import Signal
from protocol.errors import CasewatchError

AlertState = Literal["open", "acknowledged", "assigned", "rectified", "verified", "closed"]
Action = Literal["acknowledge", "assign", "rectify", "verify", "reject", "close", "comment"]
SYSTEM = "system"
DEFAULT_ESCALATE_AFTER_MS = 48 * 3_600_000
MAX_EVIDENCE = 20

_MOVES: dict[Action, tuple[tuple[AlertState, ...], AlertState | None]] = {
    "acknowledge": (("open",), "acknowledged"),
    "assign": (("open", "acknowledged", "assigned"), "assigned"),
    "rectify": (("acknowledged", "assigned"), "rectified"),
    "reject": (("rectified",), "assigned"),
    "verify": (("rectified",), "verified"),
    "close": (("verified",), "closed"),
    "comment": (("open", "acknowledged", "assigned", "rectified", "verified", "closed"), None),
}
_UNRECTIFIED: tuple[AlertState, ...] = ("open", "acknowledged", "assigned")


class AlertError(CasewatchError):
    """An action that the alert's state does not allow (shown to the operator as is)."""


@dataclass(frozen=True)
class Transition:
    alert: str
    at_ms: int
    by: str
    action: str
    state: AlertState
    level: Level
    comment: str = ""
    late: bool = False
    assignee: str | None = None
    """For ``assign``: to whom (the alert's ``assignee`` may change again in the same round)."""


@dataclass
class Alert:
    id: str
    rule: str
    key: list[str]
    level: Level
    state: AlertState
    opened_ms: int
    updated_ms: int
    active: bool = True
    reached: dict[Level, int] = field(default_factory=dict)
    cleared_ms: int | None = None
    late: bool = False
    assignee: str | None = None
    corrections: int = 0
    escalations: int = 0
    escalate_from_ms: int = 0
    context: dict[str, Any] = field(default_factory=dict)
    events: list[int] = field(default_factory=list)
    """Store positions of the facts that raised, levelled, cleared or corrected it (the evidence)."""
    ticket: bool = False
    """Its rule makes it a rectification ticket at any level (a manual finding)."""

    @property
    def is_ticket(self) -> bool:
        """Stays open until verified and escalates while unrectified: orange and up, or ``ticket``."""
        top = max(self.reached, key=rank, default=self.level)
        return self.ticket or rank(top) >= rank(TICKET_LEVEL)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Alert:
        return cls(**doc)


def check_action(
    alert: Alert, action: str, *, comment: str = "", assignee: str | None = None
) -> AlertState | None:
    """The state ``action`` leads to (None: unchanged), or ``AlertError`` saying why not.

    The API asks this before it logs an action, so an operator hears "not allowed" at once
    instead of finding a rejected record later; the book asks again when it applies the record.
    """
    if action not in _MOVES:
        raise AlertError(f"unknown action {action!r}")
    allowed, target = _MOVES[action]  # type: ignore[index,unused-ignore]
    if alert.state not in allowed:
        raise AlertError(f"alert {alert.id} is {alert.state}: cannot {action}")
    if action == "assign" and not assignee:
        raise AlertError("assign needs an assignee (officer or unit)")
    if action in ("rectify", "reject") and not comment.strip():
        raise AlertError(f"{action} needs a comment (what was done / why not accepted)")
    return target


@dataclass
class AlertBook:
    escalate_after_ms: int = DEFAULT_ESCALATE_AFTER_MS
    alerts: dict[str, Alert] = field(default_factory=dict)
    _heap: list[tuple[int, str]] = field(default_factory=list)
    _changed: dict[str, Alert] = field(default_factory=dict)
    _log: list[Transition] = field(default_factory=list)

    # signals from the rule engine -------------------------------------------------------------
    def apply(self, signal: Signal) -> None:
        self._apply(signal)
        alert = self.alerts.get(signal.alert)
        if alert is not None and signal.pos and signal.pos not in alert.events:
            alert.events = [*alert.events, signal.pos][-MAX_EVIDENCE:]

    def _apply(self, signal: Signal) -> None:
        alert = self.alerts.get(signal.alert)
        if signal.type == "level":
            assert signal.level is not None
            if alert is None:
                alert = Alert(
                    id=signal.alert,
                    rule=signal.rule,
                    key=list(signal.key),
                    level=signal.level,
                    state="open",
                    opened_ms=signal.at_ms,
                    updated_ms=signal.now_ms,
                    reached={signal.level: signal.at_ms},
                    late=signal.late,
                    escalate_from_ms=signal.at_ms,
                    context=dict(signal.context),
                    ticket=signal.ticket,
                )
                self.alerts[alert.id] = alert
                self._record(alert, signal.at_ms, SYSTEM, "raise", signal.reason, signal.late)
            elif signal.level not in alert.reached:
                alert.reached[signal.level] = signal.at_ms
                if rank(signal.level) > rank(alert.level):
                    alert.level = signal.level
                    self._record(alert, signal.at_ms, SYSTEM, "level", signal.reason, signal.late)
        elif alert is None:
            return
        elif signal.type == "clear" and alert.active:
            alert.active = False
            alert.cleared_ms = signal.at_ms
            self._record(alert, signal.at_ms, SYSTEM, "clear", signal.reason, signal.late)
            if not alert.is_ticket and alert.state in _UNRECTIFIED:
                alert.state = "closed"
                self._record(alert, signal.at_ms, SYSTEM, "close", "条件已解除 (condition cleared)")
        elif signal.type == "correction" and (signal.level is None or signal.level in alert.reached):
            self._correct(alert, signal)
        self._schedule(alert)

    def _correct(self, alert: Alert, signal: Signal) -> None:
        alert.corrections += 1
        if signal.level is not None:
            del alert.reached[signal.level]
        remaining = sorted(alert.reached, key=rank)
        if remaining:
            alert.level = remaining[-1]
            self._record(alert, signal.now_ms, SYSTEM, "correction", signal.reason, True)
        else:
            self._record(alert, signal.now_ms, SYSTEM, "correction", signal.reason, True)
            alert.active = False
            if alert.state != "closed":
                alert.state = "closed"
                self._record(alert, signal.now_ms, SYSTEM, "close", "更正后撤销 (withdrawn by a correction)")

    # people -----------------------------------------------------------------------------------
    def act(
        self,
        alert_id: str,
        action: Action,
        *,
        by: str,
        at_ms: int,
        comment: str = "",
        assignee: str | None = None,
    ) -> Alert:
        alert = self.alerts.get(alert_id)
        if alert is None:
            raise AlertError(f"no alert {alert_id}")
        target = check_action(alert, action, comment=comment, assignee=assignee)
        if action == "assign":
            alert.assignee = assignee
            comment = comment or f"→ {assignee}"
        if target is not None:
            alert.state = target
        self._record(alert, at_ms, by, action, comment, assignee=assignee if action == "assign" else None)
        self._schedule(alert)
        return alert

    # time -------------------------------------------------------------------------------------
    def tick(self, now_ms: int) -> None:
        """Raise a level on every ticket left unrectified for ``escalate_after_ms``."""
        while self._heap and self._heap[0][0] <= now_ms:
            due, alert_id = heapq.heappop(self._heap)
            alert = self.alerts.get(alert_id)
            if alert is None or self._due(alert) != due:
                continue
            alert.escalations += 1
            alert.escalate_from_ms = due
            before = alert.level
            alert.level = higher(alert.level)
            alert.reached.setdefault(alert.level, due)  # reports count the level it rose to
            hours = self.escalate_after_ms / 3_600_000
            self._record(
                alert,
                due,
                SYSTEM,
                "escalate",
                f"{hours:g} 小时未整改, {before} → {alert.level}",
                now_ms - due > 5_000,
            )
            self._schedule(alert)

    def _due(self, alert: Alert) -> int | None:
        if alert.state not in _UNRECTIFIED or alert.level == "red":
            return None
        if not alert.is_ticket:
            return None
        return alert.escalate_from_ms + self.escalate_after_ms

    def _schedule(self, alert: Alert) -> None:
        due = self._due(alert)
        if due is not None:
            heapq.heappush(self._heap, (due, alert.id))

    def _record(
        self,
        alert: Alert,
        at_ms: int,
        by: str,
        action: str,
        comment: str = "",
        late: bool = False,
        *,
        assignee: str | None = None,
    ) -> None:
        alert.updated_ms = max(alert.updated_ms, at_ms)
        self._log.append(
            Transition(alert.id, at_ms, by, action, alert.state, alert.level, comment, late, assignee)
        )
        self._changed[alert.id] = alert

    # persistence ------------------------------------------------------------------------------
    def take_changes(self) -> tuple[list[Alert], list[Transition]]:
        """Alerts changed and transitions made since the last call (to store and publish)."""
        changed, log = list(self._changed.values()), self._log
        self._changed, self._log = {}, []
        for alert in changed:
            if alert.state == "closed":
                self.alerts.pop(alert.id, None)  # stored; memory holds what can still change
        return changed, log

    def restore(self, alerts: Iterable[Alert]) -> None:
        for alert in alerts:
            self.alerts[alert.id] = alert
            self._schedule(alert)

    def open_count(self) -> int:
        return sum(1 for a in self.alerts.values() if a.state != "closed")

"""Manual findings (远程提醒): what an operator may raise by hand, and how such an alert is named.

A supervisor patrolling the cameras sees what no rule detects — an auxiliary police officer
interrogating alone, belongings not registered — and reminds the station at once. The reminder is
a ``finding.manual`` hub record; the rule pack's ``MANUAL`` rule (``configs/rules/manual.yaml``,
``ticket: true``) turns it into an alert at the level the operator chose, in the same loop as
automatic warnings: notified, assigned, rectified within 48 h, verified, escalated when late.

The catalogue offers the rule pack's own items (an operator may see a breach before its rule
fires) and the ``findings:`` items of the rule files.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hub.alerts import Alert
from hub.rules.levels import Level, rank
from hub.rules.spec import Rule, RuleFile

MANUAL_RULE = "MANUAL"
MANUAL_TAG = "manual"
"""Rules tagged so count as manual findings in reports (``MANUAL`` is)."""


@dataclass(frozen=True)
class CatalogueItem:
    id: str
    title: str
    basis: str
    level: Level
    source: str
    """``rule``: one of the rule pack's rules; ``manual``: a ``findings:`` item."""

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "basis": self.basis,
            "level": self.level,
            "source": self.source,
        }


def is_manual(rule: Rule | None) -> bool:
    return rule is not None and MANUAL_TAG in rule.tags


def catalogue(rules: RuleFile) -> list[CatalogueItem]:
    """The items an operator can pick: enabled rules (their highest level proposed) then the
    manual items. Rules that are themselves manual findings are not items."""
    out = [
        CatalogueItem(r.id, r.title, r.basis, max(r.levels, key=lambda s: rank(s.level)).level, "rule")
        for r in rules.rules
        if r.enabled and not is_manual(r)
    ]
    out += [CatalogueItem(f.id, f.title, f.basis, f.level, "manual") for f in rules.findings]
    return out


def alert_title(alert: Alert, rule: Rule | None) -> str:
    """The rule's title; a manual finding adds its item (远程提醒：辅警单独讯问)."""
    title = rule.title if rule else alert.rule
    item = alert.context.get("item_title")
    return f"{title}：{item}" if isinstance(item, str) and item else title


def manual_rule_present(rules: Mapping[str, Rule]) -> bool:
    rule = rules.get(MANUAL_RULE)
    return rule is not None and rule.enabled

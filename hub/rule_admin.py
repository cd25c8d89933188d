"""Admins' changes to rules from the console, laid over the YAML rule files.

The rule files stay the integrator's baseline (reviewed, versioned with the deployment). An
admin may switch a rule off or on, and change its limit and its stages' thresholds (``after``,
``at``, ``count``) — never its shape, matches or levels. Each change is a ``rule.change`` hub
record (who, when, why) in the log; the ingest thread that commits it also stores the overrides
(``meta['rule_overrides']``) and swaps the rule engine, so the change applies to the next fact
and to running timers (their due times are recomputed), and survives restarts. Pure: this module
only computes the rules; hub/service.py does the swap.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from foundation.errors import ConfigError
from hub.rules.spec import Rule, RuleFile

log = logging.getLogger(__name__)
OVERRIDES_META = "rule_overrides"


class RuleChangeError(ConfigError):
    """A change the rule cannot take (the reason names the rule and the field)."""


def changed_rule(rule: Rule, change: dict[str, Any]) -> Rule:
    """``rule`` with a ``rule.change`` record's data applied, checked like a rule file's rule.

    Values are in ms (the record's) and replace fields in place — a round trip through the YAML
    model would read ms as seconds."""
    update: dict[str, Any] = {"enabled": bool(change.get("enabled", rule.enabled))}
    if change.get("limit_ms") is not None:
        if rule.limit is None:
            raise RuleChangeError(f"rule {rule.id} has no limit to change")
        update["limit"] = int(change["limit_ms"])
    stages = change.get("stages") or []
    if stages:
        if [s.get("level") for s in stages] != [stage.level for stage in rule.levels]:
            levels = ", ".join(s.level for s in rule.levels)
            raise RuleChangeError(f"rule {rule.id}: stages must be its levels in order ({levels})")
        levels_out = []
        for stage, given in zip(rule.levels, stages, strict=True):
            fields: dict[str, Any] = {}
            for field, name in (("after_ms", "after"), ("at", "at"), ("count", "count")):
                if given.get(field) is not None:
                    if getattr(stage, name) is None:
                        raise RuleChangeError(f"rule {rule.id} level {stage.level} has no {name} to change")
                    fields[name] = given[field]
            levels_out.append(stage.model_copy(update=fields))
        update["levels"] = levels_out
    changed = rule.model_copy(update=update)
    try:
        changed._shape()  # type: ignore[operator]  # the file's own checks: each level once, the fields each shape needs
    except ValueError as exc:
        raise RuleChangeError(f"rule {rule.id}: {exc}") from None
    return changed


def apply_overrides(rules: RuleFile, overrides: dict[str, dict[str, Any]]) -> RuleFile:
    """The rule files with every stored change applied. A change for a rule no longer in the
    files, or one the edited file no longer takes, is skipped with a warning: the files win."""
    changed = []
    for rule in rules.rules:
        if rule.id in overrides:
            try:
                rule = changed_rule(rule, overrides[rule.id])
            except RuleChangeError as exc:
                log.warning("console change of %s not applied (the rule file changed): %s", rule.id, exc)
        changed.append(rule)
    return RuleFile.model_validate(
        {"calendars": rules.calendars, "rules": changed, "findings": rules.findings}
    )


def load_overrides(text: str | None) -> dict[str, dict[str, Any]]:
    if not text:
        return {}
    found = json.loads(text)
    return found if isinstance(found, dict) else {}


def dump_overrides(overrides: dict[str, dict[str, Any]]) -> str:
    return json.dumps(overrides, sort_keys=True, ensure_ascii=False)


def rule_view(rule: Rule, base: Rule, overridden: dict[str, Any] | None) -> dict[str, Any]:
    """A rule as the admin page shows it: now, as the file says, and whether a change is laid over."""
    return {
        "id": rule.id,
        "title": rule.title,
        "basis": rule.basis,
        "shape": rule.shape,
        "enabled": rule.enabled,
        "limit_ms": rule.limit,
        "stages": [
            {"level": s.level, "after_ms": s.after, "at": s.at, "count": s.count} for s in rule.levels
        ],
        "file": {
            "enabled": base.enabled,
            "limit_ms": base.limit,
            "stages": [
                {"level": s.level, "after_ms": s.after, "at": s.at, "count": s.count} for s in base.levels
            ],
        },
        "overridden": overridden is not None,
        "tags": rule.tags,
    }

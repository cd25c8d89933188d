"""The hub's judgement as one object: the core (projections, engine, alert book) and the rules in force.

The ingest thread owns it and is the only one to change it; readers (API, console, reports) look
at ``core.projections`` and ``rules``, which are replaced whole, never edited in place, when an
admin changes a rule.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from hub.core import Changes, HubCore
from hub.rule_admin import OVERRIDES_META, apply_overrides, dump_overrides
from hub.rules.engine import RuleEngine
from hub.rules.spec import Rule, RuleFile
from hub.state_store import DerivedStore
from hub.store import HubStore

log = logging.getLogger(__name__)
RULES_DIGEST = "rules_digest"


@dataclass
class Judgement:
    core: HubCore
    file_rules: RuleFile
    """The rule files as shipped and configured."""
    rules: RuleFile
    """The files with the console's changes laid over (hub/rule_admin.py): what is in force."""
    overrides: dict[str, dict[str, Any]]
    timezone: str
    published_rules: dict[str, Rule]
    """The rules by id as alerts are published with (shared with ``Outbound``): kept current."""

    def change_rules(self, changes: list[dict[str, Any]], store: HubStore, derived: DerivedStore) -> None:
        """Lay admins' rule changes over the files and swap the engine.

        Every state is restored into the new engine and its due time recomputed, so a lowered
        threshold fires at the next tick and a raised one waits; a disabled rule's states go."""
        overrides = dict(self.overrides)
        for change in changes:
            overrides[change["rule"]] = {k: change.get(k) for k in ("enabled", "limit_ms", "stages")}
        rules = apply_overrides(self.file_rules, overrides)
        store.meta_set(OVERRIDES_META, dump_overrides(overrides))
        self.overrides, self.rules = overrides, rules
        self.published_rules.update({r.id: r for r in rules.rules})
        engine = RuleEngine(rules, self.timezone)
        engine.restore(derived.rule_states(), trust_due=False)
        engine.mark_all_dirty()
        self.core.engine = engine
        states = engine.take_dirty()
        derived.save(Changes(rule_states=states), {k: engine.state_due(k) for k in states})
        store.meta_set(RULES_DIGEST, engine.digest)
        log.info("rules changed from the console: %s", ", ".join(c["rule"] for c in changes))

"""A restart restores rule timers from the store: lazily and with their stored due times when
the rules are the same, recomputed (and stored again) when the rules were edited."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import yaml

from foundation.configfile import load_config
from hub.config import HubConfig
from hub.core import Changes
from hub.rules.facts import Fact
from hub.service import HubService
from tests.hub_helpers import hub_config

T0 = 1_767_225_600_000
S = 1000


def rules(after_s: int) -> str:
    rule = {
        "id": "T-HOLD", "title": "测试保持", "basis": "test", "shape": "hold", "key": ["data.condition_id"],
        "start": {"kind": "condition.start", "where": {"data.condition": "understaffed"}},
        "stop": {"kind": "condition.end", "where": {"data.condition": "understaffed"}},
        "levels": [{"level": "yellow", "after": f"{after_s}s"}],
    }  # fmt: skip
    return yaml.safe_dump({"rules": [rule]})


def opened(tmp_path: Path) -> HubService:
    cfg = load_config(tmp_path / "hub.yaml", HubConfig)
    return HubService(cfg, tmp_path).open()


def stored_due(tmp_path: Path) -> int:
    with sqlite3.connect(tmp_path / "hub.db") as db:
        (due,) = db.execute("SELECT due_ms FROM rule_state").fetchone()
    return int(due)


def test_timers_restore_with_stored_dues_and_are_recomputed_when_rules_change(tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text(rules(60))
    hub_config(tmp_path, None, agent_key="k" * 64, rules=["rules.yaml"])
    first = opened(tmp_path)
    engine = first.core.engine
    start = Fact("condition.start", T0, {"data": {"condition": "understaffed", "condition_id": "c1"}}, 1)
    engine.on_fact(start, T0)
    states = engine.take_dirty()
    first.derived.save(Changes(rule_states=states), {k: engine.state_due(k) for k in states})
    first.store.close()
    assert stored_due(tmp_path) == T0 + 60 * S

    same = opened(tmp_path)
    assert same.core.engine.pending_timers() == 1 and same.core.engine.next_due() == T0 + 60 * S
    assert same.core.engine.tick(T0 + 59 * S) == []
    (signal,) = same.core.engine.tick(T0 + 80 * S)  # the hub was down when it came due
    assert signal.level == "yellow" and signal.at_ms == T0 + 60 * S and signal.late
    same.store.close()

    (tmp_path / "rules.yaml").write_text(rules(10))  # an integrator shortens the hold
    edited = opened(tmp_path)
    assert edited.core.engine.next_due() == T0 + 10 * S  # recomputed, not the stored +60 s
    assert stored_due(tmp_path) == T0 + 10 * S  # and stored again before the hub goes on
    edited.store.close()
    again = opened(tmp_path)  # the digest now matches: the stored due is trusted
    assert again.core.engine.next_due() == T0 + 10 * S
    again.store.close()

"""What the hub derived from the log, persisted: rule states (timers), alerts, projections.

These tables are not the record (the hash-chained ``events`` are); they make a restart quick —
load them instead of replaying a million events — and ``casewatch hub rebuild`` can drop and
recompute them from the log at any time. Everything one batch of processing changed is written
in one transaction together with ``rules_pos`` (the last event folded in), so after a crash the
hub replays only events past that mark, and alert ids are deterministic: nothing is doubled.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

from hub.alerts import Alert, Transition
from hub.core import Changes
from hub.rules.engine import StateKey
from hub.sql import Sql, stream
from hub.store import HubStore

RULES_POS = "rules_pos"
DERIVED_TABLES = ("rule_state", "alerts", "alert_log", "projections")


class DerivedStore:
    def __init__(self, store: HubStore) -> None:
        self.store = store

    # start ------------------------------------------------------------------------------------
    def rules_pos(self) -> int:
        value = self.store.meta_get(RULES_POS)
        return int(value) if value else 0

    def rule_states(self) -> Iterator[tuple[str, tuple[str, ...], str, int | None]]:
        """``(rule, key, state JSON, due_ms)`` per stored state: the engine parses states lazily.

        Streamed, and the keys of each 2,000 rows parsed as one JSON array (one parse, not one
        per state: a restart with 300,000 open timers spends its time here)."""
        with self.store.reading() as db:
            cursor = stream(db, "SELECT rule, key, state, due_ms FROM rule_state")
            while rows := cursor.fetchmany(2000):
                keys = json.loads("[" + ",".join(key_json for _rule, key_json, _state, _due in rows) + "]")
                for (rule, _key_json, state, due), key in zip(rows, keys, strict=True):
                    yield rule, tuple(key), state, due

    def live_alerts(self) -> list[Alert]:
        """Alerts that can still change (not closed): what the alert book holds in memory."""
        out: list[Alert] = []
        with self.store.reading() as db:
            cursor = stream(db, "SELECT doc FROM alerts WHERE state != 'closed'")
            while rows := cursor.fetchmany(2000):
                out += [Alert.from_json(doc) for doc in json.loads("[" + ",".join(d for (d,) in rows) + "]")]
        return out

    def projection_rows(self) -> Iterator[tuple[str, str, dict[str, Any]]]:
        """Every projection, streamed: 2,000 rows at a time parsed as one JSON array, so the
        parser shares one string per key across them (a person's dozen keys are not repeated
        100,000 times in memory) and no list of all rows is ever held."""
        with self.store.reading() as db:
            cursor = stream(db, "SELECT kind, key, doc FROM projections")
            while rows := cursor.fetchmany(2000):
                docs = json.loads("[" + ",".join(doc for _kind, _key, doc in rows) + "]")
                yield from ((kind, key, doc) for (kind, key, _raw), doc in zip(rows, docs, strict=True))

    # each batch -------------------------------------------------------------------------------
    def save(
        self,
        changes: Changes,
        due: dict[StateKey, int | None] | None = None,
        *,
        also: Callable[[Sql], object] | None = None,
    ) -> None:
        """Write one round's changes in one transaction; ``also`` adds to it (notifications)."""
        due = due or {}
        with self.store.transaction() as db:
            if also is not None:
                also(db)
            for (rule, key), state in changes.rule_states.items():
                key_json = json.dumps(list(key), ensure_ascii=False)
                if state is None:
                    db.execute("DELETE FROM rule_state WHERE rule = ? AND key = ?", (rule, key_json))
                else:
                    db.execute(
                        "INSERT INTO rule_state (rule, key, state, due_ms) VALUES (?, ?, ?, ?) ON CONFLICT"
                        " (rule, key) DO UPDATE SET state = excluded.state, due_ms = excluded.due_ms",
                        (rule, key_json, json.dumps(state, ensure_ascii=False), due.get((rule, key))),
                    )
            _save_alerts(db, changes)
            db.executemany(
                "INSERT INTO alert_log (alert, at_ms, by, action, state, level, comment, late)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (t.alert, t.at_ms, t.by, t.action, t.state, t.level, t.comment, int(t.late))
                    for t in changes.transitions
                ],
            )
            for kind, name, doc in changes.projections:
                if doc is None:
                    db.execute("DELETE FROM projections WHERE kind = ? AND key = ?", (kind, name))
                else:
                    db.execute(
                        "INSERT INTO projections (kind, key, doc) VALUES (?, ?, ?)"
                        " ON CONFLICT (kind, key) DO UPDATE SET doc = excluded.doc",
                        (kind, name, json.dumps(doc, ensure_ascii=False)),
                    )
            if changes.pos:
                db.execute(
                    "INSERT INTO meta (key, value) VALUES (?, ?)"
                    " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    (RULES_POS, str(changes.pos)),
                )

    def clear(self) -> None:
        """Forget everything derived (``hub rebuild`` recomputes it from the log)."""
        with self.store.transaction() as db:
            for table in DERIVED_TABLES:
                db.execute(f"DELETE FROM {table}")
            db.execute("DELETE FROM meta WHERE key = ?", (RULES_POS,))

    # queries ----------------------------------------------------------------------------------
    def alert(self, alert_id: str) -> Alert | None:
        with self.store.reading() as db:
            row = db.execute("SELECT doc FROM alerts WHERE id = ?", (alert_id,)).fetchone()
        return Alert.from_json(json.loads(row[0])) if row else None

    def alerts(self, *, state: str | None = None, open_only: bool = False, limit: int = 200) -> list[Alert]:
        sql, args = "SELECT doc FROM alerts", []
        if state:
            sql, args = sql + " WHERE state = ?", [state]
        elif open_only:
            sql += " WHERE state != 'closed'"
        sql += " ORDER BY opened_ms DESC LIMIT ?"
        with self.store.reading() as db:
            rows = db.execute(sql, (*args, limit)).fetchall()
        return [Alert.from_json(json.loads(doc)) for (doc,) in rows]

    def history(self, alert_id: str) -> list[Transition]:
        with self.store.reading() as db:
            rows = db.execute(
                "SELECT alert, at_ms, by, action, state, level, comment, late FROM alert_log"
                " WHERE alert = ? ORDER BY id",
                (alert_id,),
            ).fetchall()
        return [
            Transition(a, at, by, act, st, lv, c or "", bool(late))
            for a, at, by, act, st, lv, c, late in rows
        ]


def _save_alerts(db: Sql, changes: Changes) -> None:
    db.executemany(
        "INSERT INTO alerts (id, rule, level, state, active, opened_ms, updated_ms, doc)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET rule = excluded.rule,"
        " level = excluded.level, state = excluded.state, active = excluded.active,"
        " opened_ms = excluded.opened_ms, updated_ms = excluded.updated_ms, doc = excluded.doc",
        [
            (
                a.id,
                a.rule,
                a.level,
                a.state,
                int(a.active),
                a.opened_ms,
                a.updated_ms,
                json.dumps(a.to_json(), ensure_ascii=False),
            )
            for a in changes.alerts
        ],
    )

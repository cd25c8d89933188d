"""Read-only questions the API asks of the store: the log, projections, alerts with filters.

Kept apart from the writers (``hub.store``, ``hub.state_store``): these run on HTTP threads under
the store's lock, answer from what is committed, and never change a row. Projections are read
from their table rather than from the ingest thread's memory, so a reader never sees a batch half
applied.
"""

from __future__ import annotations

import json
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from hub.alerts import Alert
from hub.rules.levels import LEVELS
from hub.sql import Dialect


class Readable(Protocol):
    """What queries need of a store: a reading connection and its SQL dialect (``HubStore``; a
    centre's schema read by the bureau, ``hub.bureau``)."""

    @property
    def dialect(self) -> Dialect: ...

    def reading(self) -> AbstractContextManager[Any]: ...


@dataclass(frozen=True)
class AlertFilter:
    state: str | None = None
    open_only: bool = False
    level: str | None = None
    rule: str | None = None
    room: str | None = None
    person: str | None = None
    case: str | None = None
    since_ms: int | None = None
    until_ms: int | None = None
    limit: int = 200
    reached: str | None = None
    """The highest level it reached (as reports count it; ``level`` is where it is now)."""
    item: str | None = None
    """A manual finding's risk item."""


class Queries:
    def __init__(self, store: Readable) -> None:
        self.store = store

    # projections --------------------------------------------------------------------------------
    def projection(self, kind: str, key: str) -> dict[str, Any] | None:
        with self.store.reading() as db:
            row = db.execute("SELECT doc FROM projections WHERE kind = ? AND key = ?", (kind, key)).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def projections(self, kind: str, *, limit: int = 10_000) -> list[dict[str, Any]]:
        with self.store.reading() as db:
            rows = db.execute(
                "SELECT doc FROM projections WHERE kind = ? ORDER BY key LIMIT ?", (kind, limit)
            ).fetchall()
        return [dict(json.loads(doc)) for (doc,) in rows]

    def projection_map(self, kind: str) -> dict[str, dict[str, Any]]:
        with self.store.reading() as db:
            rows = db.execute("SELECT key, doc FROM projections WHERE kind = ?", (kind,)).fetchall()
        return {str(key): dict(json.loads(doc)) for key, doc in rows}

    def timers(
        self, rules: list[str], keys: list[tuple[str, ...]]
    ) -> dict[tuple[str, ...], list[dict[str, Any]]]:
        """Open deadline episodes of ``rules`` for each key: start, limit, next due, highest level."""
        if not rules or not keys:
            return {}
        wanted = {json.dumps(list(k), ensure_ascii=False): k for k in keys}
        marks = ", ".join("?" * len(rules))
        with self.store.reading() as db:
            rows = db.execute(
                f"SELECT rule, key, state, due_ms FROM rule_state WHERE rule IN ({marks})", rules
            ).fetchall()
        out: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for rule, key_json, state_json, due in rows:
            key = wanted.get(key_json)
            episode = json.loads(state_json).get("episode") if key is not None else None
            if key is None or not episode or not episode.get("limit"):
                continue
            fired = episode.get("fired") or {}
            level = max(fired, key=lambda lv: fired[lv]) if fired else None
            out.setdefault(key, []).append(
                {
                    "rule": rule,
                    "started": episode["started"],
                    "limit_ms": episode["limit"],
                    "due_ms": due,
                    "level": level,
                }
            )
        return out

    # alerts -------------------------------------------------------------------------------------
    def alerts(self, f: AlertFilter) -> list[Alert]:
        where: list[str] = []
        args: list[Any] = []
        if f.state:
            where.append("state = ?")
            args.append(f.state)
        elif f.open_only:
            where.append("state != 'closed'")
        for column, value in (("level", f.level), ("rule", f.rule)):
            if value:
                where.append(f"{column} = ?")
                args.append(value)
        dialect = self.store.dialect
        if f.room:
            where.append(f"{dialect.json_text('doc', 'context', 'room')} = ?")
            args.append(f.room)
        for path, value in (("person", f.person), ("case", f.case)):
            if value:  # a room condition names all its detainees and cases in `persons`/`cases`
                one = dialect.json_text("doc", "context", path)
                many = dialect.json_list_has("doc", "context", path + "s")
                where.append(f"({one} = ? OR {many})")
                args += [value, value]
        if f.reached in LEVELS:
            above = LEVELS[LEVELS.index(f.reached) + 1 :]
            where.append(dialect.json_keys_have("doc", "reached", 1))
            args.append(f.reached)
            if above:
                where.append(f"NOT {dialect.json_keys_have('doc', 'reached', len(above))}")
                args += list(above)
        if f.item:
            where.append(f"{dialect.json_text('doc', 'context', 'item')} = ?")
            args.append(f.item)
        if f.since_ms is not None:
            where.append("opened_ms >= ?")
            args.append(f.since_ms)
        if f.until_ms is not None:
            where.append("opened_ms < ?")
            args.append(f.until_ms)
        sql = "SELECT doc FROM alerts" + (" WHERE " + " AND ".join(where) if where else "")
        sql += " ORDER BY opened_ms DESC LIMIT ?"
        with self.store.reading() as db:
            rows = db.execute(sql, (*args, f.limit)).fetchall()
        return [Alert.from_json(json.loads(doc)) for (doc,) in rows]

    def report_alerts(self, start_ms: int, end_ms: int) -> list[tuple[Alert, int | None, int | None]]:
        """Alerts opened in ``[start, end)`` with when each was first acknowledged and last rectified."""
        with self.store.reading() as db:
            rows = db.execute(
                "SELECT a.doc,"
                " (SELECT min(at_ms) FROM alert_log l WHERE l.alert = a.id AND l.action = 'acknowledge'),"
                # the last rectification counts: one a supervisor rejected was not the fix
                " (SELECT max(at_ms) FROM alert_log l WHERE l.alert = a.id AND l.action = 'rectify')"
                " FROM alerts a WHERE opened_ms >= ? AND opened_ms < ? ORDER BY opened_ms",
                (start_ms, end_ms),
            ).fetchall()
        return [(Alert.from_json(json.loads(doc)), ack, fixed) for doc, ack, fixed in rows]

    def alert_counts(self) -> dict[str, dict[str, int]]:
        """Alerts not closed, by level and by state."""
        with self.store.reading() as db:
            rows = db.execute(
                "SELECT level, state, count(*) FROM alerts WHERE state != 'closed' GROUP BY level, state"
            ).fetchall()
        by_level: dict[str, int] = {}
        by_state: dict[str, int] = {}
        for level, state, n in rows:
            by_level[level] = by_level.get(level, 0) + int(n)
            by_state[state] = by_state.get(state, 0) + int(n)
        return {"by_level": by_level, "by_state": by_state}

    # the log ------------------------------------------------------------------------------------
    def events(
        self,
        *,
        kind: str | None = None,
        agent: str | None = None,
        after_pos: int = 0,
        since_ms: int | None = None,
        until_ms: int | None = None,
        limit: int = 100,
        newest_first: bool = False,
    ) -> list[dict[str, Any]]:
        """Logged events in chain order (or newest first), each with its ``pos`` and ``hash``."""
        where: list[str] = ["pos > ?"]
        args: list[Any] = [after_pos]
        if kind:
            where.append("kind = ?")
            args.append(kind)
        if agent:
            where.append("agent = ?")
            args.append(agent)
        if since_ms is not None:
            where.append("ts >= ?")
            args.append(since_ms)
        if until_ms is not None:
            where.append("ts < ?")
            args.append(until_ms)
        sql = (
            f"SELECT pos, received_ms, hash, body FROM events WHERE {' AND '.join(where)}"
            f" ORDER BY pos {'DESC' if newest_first else ''} LIMIT ?"
        )
        with self.store.reading() as db:
            rows = db.execute(sql, (*args, limit)).fetchall()
        return [
            {"pos": pos, "received_ms": received, "hash": hash_, "event": json.loads(body)}
            for pos, received, hash_, body in rows
        ]

    def about_person(self, person: str) -> list[dict[str, Any]]:
        """Every logged event whose subject is ``person`` (hub records mostly), in chain order."""
        with self.store.reading() as db:
            rows = db.execute("SELECT body FROM events WHERE person = ? ORDER BY pos", (person,)).fetchall()
        return [json.loads(body) for (body,) in rows]

    def positions(
        self, bands: list[str], since_ms: int, until_ms: int | None
    ) -> list[tuple[str, int, str | None]]:
        """``(band, ts, room)`` of each ``band.position`` of ``bands`` in the window, by time."""
        if not bands:
            return []
        out: list[tuple[str, int, str | None]] = []
        room = self.store.dialect.json_text("body", "data", "room", blob=True)
        with self.store.reading() as db:
            for band in bands:
                rows = db.execute(
                    f"SELECT ts, {room} FROM events"
                    " WHERE band = ? AND ts >= ? AND ts <= ? AND kind = 'band.position' ORDER BY ts",
                    (band, since_ms, until_ms if until_ms is not None else 2**62),
                ).fetchall()
                out += [(band, int(ts), room) for ts, room in rows]
        return sorted(out, key=lambda r: r[1])

    def recording(self, since_ms: int, until_ms: int) -> list[dict[str, Any]]:
        """Every camera's ``recording.state`` up to ``until_ms`` and the ``recording.gap`` events
        sent since ``since_ms`` (a gap is sent when it ends), in log order: hub/coverage.py's input."""
        with self.store.reading() as db:
            rows = db.execute(
                "SELECT body FROM events WHERE (kind = 'recording.state' AND ts < ?)"
                " OR (kind = 'recording.gap' AND ts >= ?) ORDER BY pos",
                (until_ms, since_ms),
            ).fetchall()
        return [json.loads(body) for (body,) in rows]

    def first_received_ms(self) -> int | None:
        """When the store's first event arrived (the hub's first day), or None when it is empty."""
        with self.store.reading() as db:
            row = db.execute("SELECT received_ms FROM events WHERE pos = 1").fetchone()
        return None if row is None else int(row[0])

    def event(self, pos: int) -> dict[str, Any] | None:
        found = self.events(after_pos=pos - 1, limit=1)
        return found[0] if found and found[0]["pos"] == pos else None

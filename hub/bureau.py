"""What a multi-centre hub shows across its centres (县局一屏): each centre's owner and open
alerts, and the alerts of every centre a user sees, newest first.

Each centre keeps its tables in its own PostgreSQL schema (``cw_{centre}``, ``hub.worker``); these
reads span them with one ``UNION ALL`` of the centres asked for, on the reader's own connection,
whichever worker owns each centre (or none: a centre between owners still shows its alerts). A
centre whose schema does not exist yet (never owned) shows no alerts. The user's scope is applied
before the query is built: a station's account never reads another station's schema.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from hub.alerts import Alert
from hub.config import CentreSettings
from hub.errors import StoreError
from hub.lease_table import NOW
from hub.outbound import alert_payload
from hub.queries import Queries
from hub.report_source import alert_rows
from hub.reports import AlertRow, Period, Scoring, build
from hub.rules.levels import LEVELS
from hub.rules.spec import Rule
from hub.sql import POSTGRESQL, Dialect, Postgres
from hub.store_engines import READER_POOLS, redact

MAX_ALERTS = 500


class CentreSchema:
    """One centre's tables read from the bureau (``hub.queries.Readable``): a pooled connection
    with the centre's schema as its search_path, for the length of one read."""

    def __init__(self, pool: Any, schema: str, where: str) -> None:
        self._pool = pool
        self.schema = schema
        self.where = where

    @property
    def dialect(self) -> Dialect:
        return POSTGRESQL

    @contextmanager
    def reading(self) -> Iterator[Any]:
        import psycopg
        from psycopg import sql
        from psycopg_pool import PoolTimeout

        try:
            with self._pool.connection() as conn:
                conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(self.schema)))
                yield Postgres(conn)
        except (psycopg.Error, PoolTimeout) as exc:
            raise StoreError(f"bureau reads {self.where} schema {self.schema}: {exc}") from exc


class BureauReads:
    def __init__(
        self, dsn: str, centres: Sequence[CentreSettings], rules: Mapping[str, Rule] | None = None
    ) -> None:
        """``rules``: by id, for each alert's title, basis and level name (as a centre publishes it)."""
        self.rules = dict(rules or {})
        self.dsn = dsn
        self.where = redact(dsn)
        self.centres = {c.id: c for c in centres}
        self._pool = READER_POOLS.get(dsn)  # the worker's reader pool: a few connections in all

    def _query(self, statement: Any, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        import psycopg
        from psycopg_pool import PoolTimeout

        try:
            with self._pool.connection() as conn:
                return list(conn.execute(statement, list(args) or None).fetchall())
        except (psycopg.Error, PoolTimeout) as exc:
            raise StoreError(f"bureau reads {self.where}: {exc}") from exc

    def _existing(self, wanted: Sequence[str]) -> list[str]:
        """The centres asked for whose schema exists (each was owned at least once)."""
        names = [f"cw_{c}" for c in wanted if c in self.centres]
        found = {
            str(n)
            for (n,) in self._query("SELECT nspname FROM pg_namespace WHERE nspname = ANY(%s)", [names])
        }
        return [c for c in wanted if f"cw_{c}" in found]

    def centres_view(self, scope: Sequence[str]) -> list[dict[str, Any]]:
        """Each centre in ``scope``: name, units, owner (None between owners), open alerts by level."""
        from psycopg import sql

        rows = self._query(f"SELECT center, owner, url FROM casewatch.leases WHERE expires_ms > {NOW}")
        owners = {str(c): str(o) for c, o, _url in rows}
        consoles = {str(c): str(u) + "/console/" for c, _o, u in rows if u}
        counts: dict[str, dict[str, int]] = {}
        present = self._existing(scope)
        if present:
            parts = [
                sql.SQL(
                    "SELECT {}::text, level, count(*) FROM {}.alerts WHERE state <> 'closed' GROUP BY level"
                ).format(sql.Literal(c), sql.Identifier(f"cw_{c}"))
                for c in present
            ]
            for centre, level, n in self._query(sql.SQL(" UNION ALL ").join(parts)):
                counts.setdefault(str(centre), {})[str(level)] = int(n)
        return [
            {
                "id": c, "name": self.centres[c].name or c, "units": list(self.centres[c].units),
                "owner": owners.get(c), "console": consoles.get(c),
                "open_alerts": {lv: counts.get(c, {}).get(lv, 0) for lv in LEVELS},
            }
            for c in scope if c in self.centres
        ]  # fmt: skip

    def alerts(
        self, scope: Sequence[str], *, open_only: bool = True, limit: int = 200
    ) -> list[dict[str, Any]]:
        """The alerts of the centres in ``scope``, newest first, each with ``center`` and ``center_name``."""
        from psycopg import sql

        present = self._existing(scope)
        if not present:
            return []
        where = sql.SQL(" WHERE state <> 'closed'" if open_only else "")
        parts = [
            sql.SQL("SELECT {}::text AS center, opened_ms, doc FROM {}.alerts{}").format(
                sql.Literal(c), sql.Identifier(f"cw_{c}"), where
            )
            for c in present
        ]
        statement = sql.SQL("{} ORDER BY opened_ms DESC LIMIT %s").format(sql.SQL(" UNION ALL ").join(parts))
        out = []
        for centre, _opened, doc in self._query(statement, [min(limit, MAX_ALERTS)]):
            found = Alert.from_json(json.loads(doc))
            alert: dict[str, Any] = json.loads(alert_payload(found, self.rules.get(found.rule)))
            alert["center"] = str(centre)
            alert["center_name"] = self.centres[str(centre)].name or str(centre)
            out.append(alert)
        return out

    def report(self, scope: Sequence[str], period: Period, now_ms: int, scoring: Scoring) -> dict[str, Any]:
        """The period's report over the centres in ``scope``: units ranked across all of them (a
        unit's alerts in every centre count together: a station's officers work in the central
        centre too), with each centre's count beside it."""
        rows: list[AlertRow] = []
        by_centre: list[dict[str, Any]] = []
        units: set[str] = set()
        for centre in self._existing(scope):
            settings = self.centres[centre]
            reader = Queries(CentreSchema(self._pool, f"cw_{centre}", self.where))
            found = alert_rows(reader, period, {r.id: r.name for r in settings.rooms}, self.rules)
            rows += found
            units |= {
                str(o["unit"])
                for o in reader.projections("officer")
                if o.get("unit") and o.get("active", True)
            }
            by_centre.append({"center": centre, "name": settings.name or centre, "count": len(found)})
        units |= {u for c in scope if c in self.centres for u in self.centres[c].units}
        made = build(period, rows, now_ms, scoring, sorted(units)).to_json()
        made["by_centre"] = sorted(by_centre, key=lambda c: (-c["count"], c["center"]))
        made["centres"] = [c for c in scope if c in self.centres]
        return made

    def close(self) -> None:
        READER_POOLS.release(self.dsn)

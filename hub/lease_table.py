"""The lease table on PostgreSQL: who owns which centre, and which workers are alive.

Both tables live in the schema ``casewatch`` beside the centres' ``cw_{centre}`` schemas. Times are
the database's (``clock_timestamp()``), so workers on several boxes need not agree on the time.
A take succeeds only where the lease is missing, expired or already the taker's; a renewal only
where the lease is still the renewer's: one row lock decides between two workers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hub.errors import StoreError
from hub.lease_plan import Lease
from hub.store_engines import APPLICATION, CONNECT_TIMEOUT_S, redact

if TYPE_CHECKING:
    import psycopg

NOW = "(extract(epoch from clock_timestamp()) * 1000)::bigint"
_SCHEMA = (
    "CREATE SCHEMA IF NOT EXISTS casewatch",
    "CREATE TABLE IF NOT EXISTS casewatch.leases (center TEXT PRIMARY KEY, owner TEXT NOT NULL,"
    " expires_ms BIGINT NOT NULL, taken_ms BIGINT NOT NULL, url TEXT)",
    "CREATE TABLE IF NOT EXISTS casewatch.workers (id TEXT PRIMARY KEY, seen_ms BIGINT NOT NULL,"
    " started_ms BIGINT NOT NULL, centres BIGINT NOT NULL DEFAULT 0, url TEXT, instance TEXT)",
)
LOCK_KEY = 0x6361_7365_6C65_6173  # "caselease": creating the tables once


class LeaseTable:
    def __init__(self, dsn: str, lease_s: int) -> None:
        import psycopg

        self.dsn = dsn
        self.lease_ms = lease_s * 1000
        self.where = redact(dsn)
        self._errors = (psycopg.Error,)
        self._conn: psycopg.Connection[Any] | None = None
        with self._db() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
            for statement in _SCHEMA:
                conn.execute(statement)

    def _db(self) -> psycopg.Connection[Any]:
        import psycopg

        if self._conn is None or self._conn.closed or self._conn.broken:
            try:
                # a database that stops answering must fail a round well within a lease, so the
                # worker stops its centres before anyone may take them (hub/worker.py)
                wait_s = max(1, min(CONNECT_TIMEOUT_S, self.lease_ms // 4000))
                self._conn = psycopg.connect(
                    self.dsn, autocommit=True, connect_timeout=wait_s, application_name=APPLICATION,
                    options=f"-c statement_timeout={wait_s * 1000}", keepalives_idle=wait_s,
                    keepalives_interval=1, keepalives_count=2,
                )  # fmt: skip
            except psycopg.Error as exc:
                raise StoreError(f"leases {self.where}: cannot connect: {exc}") from exc
        return self._conn

    def _run(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        try:
            cursor = self._db().execute(sql, args or None)
            return list(cursor.fetchall()) if cursor.description else []
        except self._errors as exc:
            raise StoreError(f"leases {self.where}: {exc}") from exc

    def heartbeat(self, worker: str, instance: str, centres: int, url: str | None = None) -> bool:
        """``worker`` (this process: ``instance``) is alive, holds ``centres`` centres and serves the
        bureau console at ``url``. False: another live process already goes by that name — two
        processes under one name would both think every lease of it theirs."""
        rows = self._run(
            "INSERT INTO casewatch.workers (id, seen_ms, started_ms, centres, url, instance)"
            f" VALUES (%s, {NOW}, {NOW}, %s, %s, %s) ON CONFLICT (id) DO UPDATE SET"
            " seen_ms = excluded.seen_ms, centres = excluded.centres, url = excluded.url,"
            " instance = excluded.instance,"
            " started_ms = CASE WHEN casewatch.workers.instance = excluded.instance"
            " THEN casewatch.workers.started_ms ELSE excluded.started_ms END"
            " WHERE casewatch.workers.instance IS NOT DISTINCT FROM excluded.instance"
            f" OR casewatch.workers.seen_ms <= {NOW} - %s RETURNING id",
            (worker, centres, url, instance, self.lease_ms),
        )
        return bool(rows)

    def read(self) -> tuple[int, dict[str, Lease], list[str]]:
        """The database's now, every lease, and the workers heard from within a lease time."""
        now = int(self._run(f"SELECT {NOW}")[0][0])
        leases = {
            str(c): Lease(str(c), str(o), int(e))
            for c, o, e in self._run("SELECT center, owner, expires_ms FROM casewatch.leases")
        }
        live = [
            str(w)
            for (w,) in self._run(
                "SELECT id FROM casewatch.workers WHERE seen_ms > %s", (now - self.lease_ms,)
            )
        ]
        return now, leases, live

    def take(self, centre: str, worker: str) -> bool:
        rows = self._run(
            "INSERT INTO casewatch.leases (center, owner, expires_ms, taken_ms)"
            f" VALUES (%s, %s, {NOW} + %s, {NOW})"
            " ON CONFLICT (center) DO UPDATE SET owner = excluded.owner, expires_ms = excluded.expires_ms,"
            " taken_ms = excluded.taken_ms, url = CASE WHEN casewatch.leases.owner = excluded.owner"
            " THEN casewatch.leases.url END"
            f" WHERE casewatch.leases.expires_ms <= {NOW} OR casewatch.leases.owner = excluded.owner"
            " RETURNING owner",
            (centre, worker, self.lease_ms),
        )
        return bool(rows)

    def renew(self, worker: str, centres: list[str]) -> set[str]:
        """Extend ``worker``'s leases of ``centres``; the ones it still held (the others were taken)."""
        if not centres:
            return set()
        rows = self._run(
            f"UPDATE casewatch.leases SET expires_ms = {NOW} + %s WHERE owner = %s AND center = ANY(%s)"
            " RETURNING center",
            (self.lease_ms, worker, centres),
        )
        return {str(c) for (c,) in rows}

    def set_url(self, centre: str, worker: str, url: str | None) -> None:
        """Where the owner serves the centre's own console (None: nowhere)."""
        self._run(
            "UPDATE casewatch.leases SET url = %s WHERE center = %s AND owner = %s", (url, centre, worker)
        )

    def release(self, centre: str, worker: str) -> None:
        self._run("DELETE FROM casewatch.leases WHERE center = %s AND owner = %s", (centre, worker))

    def leave(self, worker: str) -> None:
        """A clean stop: every lease handed back at once, the worker gone from the live list."""
        self._run("DELETE FROM casewatch.leases WHERE owner = %s", (worker,))
        self._run("DELETE FROM casewatch.workers WHERE id = %s", (worker,))

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()

"""The two databases a hub's store runs on: what opening, transactions and readers look like.

``SqliteEngine``: one file in WAL mode — the embedded default for one centre and the demo; its
schema is migrated by ``hub.migrations``; readers get a read-only connection per thread
(``hub.read_connections``). ``PostgresEngine``: a server shared by several hub workers
(``store.backend: postgresql``); its schema is ``hub.pg_schema``; readers get an autocommit
connection per thread. A connection the server dropped (a restart, a failover, an administrator's
``pg_terminate_backend``) is opened again on the next use: the batch that failed is retried by
the ingest, which acknowledged none of it.

Both hand out ``hub.sql.Sql`` connections, so the store's code above is one.
"""

from __future__ import annotations

import re
import sqlite3
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from hub.errors import StoreError
from hub.migrations import migrate as migrate_sqlite
from hub.read_connections import ReadConnections
from hub.sql import POSTGRESQL, SQLITE, Dialect, Postgres, Sql

if TYPE_CHECKING:
    import psycopg

CONNECT_TIMEOUT_S = 10
APPLICATION = "casewatch hub"
"""How the hub's sessions are named in ``pg_stat_activity``."""


def redact(dsn: str) -> str:
    """A DSN fit for a log line or an error: its password replaced."""
    dsn = re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", dsn)
    return re.sub(r"(password\s*=\s*)\S+", r"\1***", dsn)


class SqliteEngine:
    dialect: Dialect = SQLITE
    chains_per_centre = False
    errors: tuple[type[BaseException], ...] = (sqlite3.Error,)

    def __init__(self, path: Path | str, synchronous: Literal["FULL", "NORMAL"]) -> None:
        self.path = Path(path)
        self.where = str(self.path)
        self.memory = str(path) == ":memory:"
        self._readers = ReadConnections(self.path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"store {self.path}: cannot create its folder: {exc}") from exc
        try:
            self.conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        except sqlite3.Error as exc:
            raise StoreError(f"store {self.path}: cannot open: {exc}") from exc
        try:
            self.conn.execute("PRAGMA busy_timeout = 5000")
            self.conn.execute("PRAGMA journal_mode = WAL")
            self.conn.execute(f"PRAGMA synchronous = {synchronous}")
            migrate_sqlite(self.conn, where=self.where)
        except BaseException as exc:
            self.conn.close()
            if isinstance(exc, sqlite3.DatabaseError) and "not a database" in str(exc):
                raise StoreError(f"{self.path} is not a casewatch store: {exc}") from exc
            if isinstance(exc, sqlite3.Error):
                raise StoreError(f"store {self.path}: {exc}") from exc
            raise

    def writer(self) -> Sql:
        return self.conn

    @contextmanager
    def transaction(self) -> Iterator[Sql]:
        db = self.conn
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise

    def reader(self) -> Sql:
        return self._readers.get()

    @contextmanager
    def snapshot(self) -> Iterator[Sql]:
        """A read-only connection of its own inside one read transaction (``hub verify``)."""
        try:
            conn = sqlite3.connect(self.path.resolve().as_uri() + "?mode=ro", uri=True, isolation_level=None)
        except sqlite3.Error as exc:
            raise StoreError(f"store {self.path}: cannot open for verify: {exc}") from exc
        try:
            conn.execute("BEGIN")
            yield conn
        finally:
            conn.close()

    def close(self) -> None:
        self._readers.close()
        self.conn.close()


class _PgHolder:
    __slots__ = ("__weakref__", "conn")

    def __init__(self, conn: Any) -> None:
        self.conn = conn


class PostgresEngine:
    dialect: Dialect = POSTGRESQL
    chains_per_centre = True
    memory = False

    def __init__(self, dsn: str, schema: str | None = None) -> None:
        import psycopg

        from hub.pg_schema import migrate as migrate_pg

        self.dsn = dsn
        self.schema = schema
        """The PostgreSQL schema the tables live in (a worker's centre: ``cw_{centre}``); None: the
        connection's own search_path (``public``)."""
        self.where = redact(dsn) + (f" schema {schema}" if schema else "")
        self.errors: tuple[type[BaseException], ...] = (psycopg.Error,)
        self._local = threading.local()
        self._closers: list[weakref.finalize[Any, Any]] = []
        self._lock = threading.Lock()
        self._conn = self._connect()
        try:
            migrate_pg(self._conn, where=self.where, schema=schema)
        except BaseException:
            self._conn.close()
            raise

    def _connect(self) -> psycopg.Connection[Any]:
        import psycopg
        from psycopg import sql

        try:
            conn = psycopg.connect(
                self.dsn, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S, application_name=APPLICATION
            )
            if self.schema is not None:
                conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(self.schema)))
            return conn
        except psycopg.Error as exc:
            raise StoreError(f"store {self.where}: cannot connect: {exc}") from exc

    def _live(self) -> psycopg.Connection[Any]:
        """The writer's connection, opened again if the server dropped it."""
        if self._conn.closed or self._conn.broken:
            self._conn.close()
            self._conn = self._connect()
        return self._conn

    def writer(self) -> Sql:
        return Postgres(self._live())

    @contextmanager
    def transaction(self) -> Iterator[Sql]:
        conn = self._live()
        with conn.transaction():
            yield Postgres(conn)

    def reader(self) -> Sql:
        """This thread's autocommit connection, opened on first use and after a drop."""
        holder: _PgHolder | None = getattr(self._local, "holder", None)
        if holder is not None and (holder.conn.closed or holder.conn.broken):
            holder.conn.close()
            holder = None
        if holder is None:
            holder = self._local.holder = _PgHolder(self._connect())
            closer = weakref.finalize(holder, holder.conn.close)
            with self._lock:
                self._closers = [c for c in self._closers if c.alive]
                self._closers.append(closer)
        return Postgres(holder.conn)

    @contextmanager
    def snapshot(self) -> Iterator[Sql]:
        """A connection of its own in one repeatable-read, read-only transaction (``hub verify``)."""
        conn = self._connect()
        try:
            with conn.transaction():
                conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
                yield Postgres(conn)
        finally:
            conn.close()

    def close(self) -> None:
        with self._lock:
            closers, self._closers = self._closers, []
        for closer in closers:
            closer()
        self._conn.close()


Engine = SqliteEngine | PostgresEngine

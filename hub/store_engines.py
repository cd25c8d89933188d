"""The two databases a hub's store runs on: what opening, transactions and readers look like.

``SqliteEngine``: one file in WAL mode — the embedded default for one centre and the demo; its
schema is migrated by ``hub.migrations``; readers get a read-only connection per thread
(``hub.read_connections``). ``PostgresEngine``: a server shared by several hub workers
(``store.backend: postgresql``); its schema is ``hub.pg_schema``; its writer has a connection of
its own, and readers borrow one of the process's small reader pool for each read. A writer
connection the server dropped (a restart, a failover, an administrator's ``pg_terminate_backend``)
is opened again on the next use: the batch that failed is retried by the ingest, which
acknowledged none of it; a dropped reader connection is replaced as it leaves the pool.

Both hand out ``hub.sql.Sql`` connections, so the store's code above is one.
"""

from __future__ import annotations

import re
import sqlite3
import threading
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

    @contextmanager
    def reading(self) -> Iterator[Sql]:
        yield self._readers.get()

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


class _ReaderPools:
    """One small pool of reader connections per server (dsn) and process, shared by every store on
    it: a worker running ten centres holds ten writer connections and a few readers, not ten times
    each of its threads (PostgreSQL's ``max_connections`` is 100 by default)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pools: dict[str, tuple[Any, int]] = {}

    def get(self, dsn: str) -> Any:
        from psycopg_pool import ConnectionPool

        with self._lock:
            found = self._pools.get(dsn)
            if found is None:
                options = {
                    "autocommit": True,
                    "connect_timeout": CONNECT_TIMEOUT_S,
                    "application_name": APPLICATION,
                }
                pool = ConnectionPool(
                    dsn, min_size=1, max_size=READERS_PER_PROCESS, timeout=READER_WAIT_S, open=True,
                    kwargs=options, check=ConnectionPool.check_connection, name="casewatch-readers",
                )  # fmt: skip
                found = (pool, 0)
            self._pools[dsn] = (found[0], found[1] + 1)
            return found[0]

    def release(self, dsn: str) -> None:
        with self._lock:
            pool, users = self._pools.pop(dsn, (None, 0))
            if users > 1:
                self._pools[dsn] = (pool, users - 1)
            elif pool is not None:
                pool.close()


READER_POOLS = _ReaderPools()
READERS_PER_PROCESS = 8
READER_WAIT_S = 15.0


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
        from psycopg_pool import PoolTimeout

        self.errors: tuple[type[BaseException], ...] = (psycopg.Error, PoolTimeout)
        self._conn = self._connect()
        try:
            migrate_pg(self._conn, where=self.where, schema=schema)
            self._pool = READER_POOLS.get(dsn)
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

    @contextmanager
    def reading(self) -> Iterator[Sql]:
        """A connection of the process's reader pool, on this store's schema, for one read (checked
        on the way out of the pool: one the server dropped is replaced, not handed over)."""
        from psycopg import sql

        pool = self._pool
        with pool.connection() as conn:
            if self.schema is not None:
                conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(self.schema)))
            else:
                conn.execute("RESET search_path")
            db = Postgres(conn)
            try:
                yield db
            finally:
                db.close_cursors()

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
        READER_POOLS.release(self.dsn)
        self._conn.close()


Engine = SqliteEngine | PostgresEngine

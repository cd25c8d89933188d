"""A PostgreSQL database of the test run's own: one schema per test, dropped after it.

The server is the machine's (pre-started on the project's machines; CI's ``.ci/run`` starts it if
it is installed and down). ``CASEWATCH_TEST_PG`` names another server (a libpq URI without a
database-specific ``options``). Tests that need it fail with this message when it is down: they
are the PostgreSQL half of the store's contract, not optional extras.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote

SERVER = os.environ.get("CASEWATCH_TEST_PG", "postgresql://postgres@127.0.0.1:5432")
DATABASE = "casewatch_test"


def _admin(database: str = "postgres") -> Any:
    import psycopg

    try:
        return psycopg.connect(f"{SERVER}/{database}", autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        raise RuntimeError(
            f"PostgreSQL is not reachable at {SERVER} ({exc}): start it (`service postgresql start`) "
            "or point CASEWATCH_TEST_PG at one (README, Testing)"
        ) from exc


def ensure_database() -> None:
    conn = _admin()
    try:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)).fetchone()
        if found is None:
            conn.execute(f"CREATE DATABASE {DATABASE}")
    finally:
        conn.close()


@contextmanager
def fresh_schema() -> Iterator[str]:
    """A DSN whose search_path is a new, empty schema; the schema is dropped afterwards."""
    ensure_database()
    schema = f"t_{uuid.uuid4().hex[:16]}"
    conn = _admin(DATABASE)
    conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield f"{SERVER}/{DATABASE}?options={quote(f'-csearch_path={schema}')}"
    finally:
        conn.execute("SET lock_timeout = '20s'")  # a store left open must not hang the run
        conn.execute(f"DROP SCHEMA {schema} CASCADE")
        conn.close()


def sql(dsn: str, statement: str, *args: object) -> list[tuple[object, ...]]:
    """Run one statement as an outsider would (psycopg alone, not the hub's code)."""
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        cursor = conn.execute(statement, args or None)
        return list(cursor.fetchall()) if cursor.description else []


@contextmanager
def fresh_database() -> Iterator[str]:
    """A DSN of a new, empty database (a multi-centre hub names its own schemas); dropped after,
    whoever is still connected to it."""
    name = f"cwt_{uuid.uuid4().hex[:16]}"
    conn = _admin()
    conn.execute(f"CREATE DATABASE {name}")
    try:
        yield f"{SERVER}/{name}"
    finally:
        conn.execute(f"DROP DATABASE {name} WITH (FORCE)")
        conn.close()

"""``casewatch hub verify``'s way into a store file: read-only, never created, never migrated.

Opening a store through ``HubStore`` creates a missing file and migrates an old one — right for
the hub, wrong for a check: a deleted or wiped store would come out "intact, 0 events". Here a
missing, empty (0-byte), foreign or damaged file is an error that says which, and the walk runs
inside one read transaction on a connection that cannot write.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path

from hub.chain import AnchorPoint, VerifyReport, verify_chain
from hub.errors import StoreError
from hub.migrations import latest_version, schema_version
from protocol.signing import Keyring

CHAIN_V2_SCHEMA = 7


def verify_file(
    path: Path,
    *,
    keyring: Keyring | None = None,
    anchors: Sequence[AnchorPoint] = (),
    progress: Callable[[int], None] | None = None,
    chunk: int = 10_000,
) -> VerifyReport:
    if not path.exists():
        raise StoreError(f"store {path} does not exist (nothing to verify: moved or deleted?)")
    if not path.is_file():
        raise StoreError(f"store {path} is not a file")
    if path.stat().st_size == 0:
        raise StoreError(f"store {path} is empty (0 bytes): no casewatch store is (wiped?)")
    try:
        conn = sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True, isolation_level=None)
    except sqlite3.Error as exc:
        raise StoreError(f"store {path}: cannot open read-only: {exc}") from exc
    try:
        version = schema_version(conn)
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if version == 0 or not {"events", "meta"} <= tables:
            raise StoreError(f"store {path} has no casewatch schema (not a hub store, or wiped?)")
        if version > latest_version():
            raise StoreError(f"store {path}: schema v{version} is newer than this casewatch: upgrade it")
        conn.execute("BEGIN")
        return verify_chain(
            conn, progress, chunk, has_v2=version >= CHAIN_V2_SCHEMA, keyring=keyring, anchors=anchors
        )
    except sqlite3.Error as exc:
        raise StoreError(f"store {path} cannot be read: {exc} (truncated or damaged?)") from exc
    finally:
        conn.close()


def verify_postgres(
    dsn: str,
    chain: str,
    *,
    schema: str | None = None,
    keyring: Keyring | None = None,
    anchors: Sequence[AnchorPoint] = (),
    progress: Callable[[int], None] | None = None,
    chunk: int = 10_000,
) -> VerifyReport:
    """The same check of one centre's chain on a PostgreSQL store: connected read-only, never
    migrated, inside one repeatable-read snapshot; a database without the schema is an error."""
    import psycopg
    from psycopg import sql

    from hub.pg_schema import MIGRATIONS
    from hub.sql import Postgres
    from hub.store_engines import CONNECT_TIMEOUT_S, redact

    where = redact(dsn) + (f" schema {schema}" if schema else "")
    try:
        conn = psycopg.connect(dsn, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S)
        if schema is not None:
            conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
    except psycopg.Error as exc:
        raise StoreError(f"store {where}: cannot connect: {exc}") from exc
    try:
        with conn.transaction():
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            if conn.execute("SELECT to_regclass('schema_version')").fetchone() in (None, (None,)):
                raise StoreError(f"store {where} has no casewatch schema (not a hub store, or wiped?)")
            found = conn.execute("SELECT max(version) FROM schema_version").fetchone()
            if found is not None and int(found[0] or 0) > MIGRATIONS[-1].version:
                raise StoreError(
                    f"store {where}: schema v{found[0]} is newer than this casewatch: upgrade it"
                )
            return verify_chain(
                Postgres(conn), progress, chunk, keyring=keyring, anchors=anchors, chain=chain
            )
    except psycopg.Error as exc:
        raise StoreError(f"store {where} cannot be read: {exc}") from exc
    finally:
        conn.close()

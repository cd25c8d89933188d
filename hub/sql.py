"""One SQL surface over SQLite and PostgreSQL: the store's code is written once, with ``?`` marks.

The hub's SQL is plain and portable (``INSERT … ON CONFLICT … DO UPDATE``, ``CASE`` rather than
two-argument ``max``); what differs between the two engines is kept here, and nowhere else:

- parameters: SQLite takes ``?``; psycopg takes ``%s``. ``Postgres`` rewrites each statement once
  (``?`` outside quotes becomes ``%s``, a literal ``%`` becomes ``%%``) and caches the result;
- JSON inside a stored text document (alert documents, event bodies): ``Dialect`` writes the
  engine's expression (``json_extract``/``json_each`` against ``->``/``jsonb_array_elements``);
- errors: both drivers' errors become ``StoreError`` in the store's shell (``hub.store``).

``Sql`` is what the store's callers get from ``reading()`` and ``transaction()``: a connection
whose ``execute`` and ``executemany`` return a cursor with ``fetchone``, ``fetchall``,
``fetchmany`` and ``rowcount``, whatever the engine.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol


class Cursor(Protocol):
    rowcount: int

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def fetchmany(self, size: int = ...) -> list[Any]: ...

    def __iter__(self) -> Any: ...


class Sql(Protocol):
    """A connection with SQLite's calling convention (``?`` marks), on either engine."""

    def execute(self, sql: str, parameters: Sequence[Any] = ..., /) -> Any: ...

    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> Any: ...


@functools.lru_cache(maxsize=1024)
def to_format_marks(sql: str) -> str:
    """``?`` → ``%s`` and ``%`` → ``%%`` outside quoted text (psycopg's parameter style)."""
    out: list[str] = []
    quote: str | None = None
    for ch in sql:
        if quote is not None:
            out.append("%%" if ch == "%" else ch)
            if ch == quote:
                quote = None
        elif ch in ("'", '"'):
            quote = ch
            out.append(ch)
        elif ch == "?":
            out.append("%s")
        elif ch == "%":
            out.append("%%")
        else:
            out.append(ch)
    return "".join(out)


class Postgres:
    """A psycopg connection behind SQLite's calling convention (``Sql``)."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self._streams: list[Any] = []

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> Any:
        cursor = self.conn.cursor()
        if parameters:
            cursor.execute(to_format_marks(sql), tuple(parameters), prepare=False)
        else:  # psycopg passes a statement without parameters as it is: no mark to rewrite
            cursor.execute(sql, prepare=False)
        return cursor

    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> Any:
        cursor = self.conn.cursor()
        rows = [tuple(p) for p in parameters]
        if rows:
            cursor.executemany(to_format_marks(sql), rows)
        return cursor

    def stream(self, sql: str, parameters: Sequence[Any] = ()) -> Any:
        """A server-side cursor: ``fetchmany`` brings rows a chunk at a time, and other statements
        may run on the connection between chunks (``WITH HOLD``: also outside a transaction, the
        server then keeps the whole result until the cursor closes — constant memory here, not
        there)."""
        cursor = self.conn.cursor(name=f"casewatch_{next(_CURSORS)}", withhold=True)
        cursor.execute(to_format_marks(sql) if parameters else sql, tuple(parameters) or None)
        self._streams.append(cursor)
        return cursor

    def close_cursors(self) -> None:
        """Close the server-side cursors opened here (a ``WITH HOLD`` cursor outlives its statement:
        on a pooled connection it would stay open for the next user)."""
        for cursor in self._streams:
            if not cursor.closed and not self.conn.closed:
                cursor.close()
        self._streams.clear()


_CURSORS = itertools.count(1)


def stream(db: Sql, sql: str, parameters: Sequence[Any] = ()) -> Any:
    """Rows of a long query a chunk at a time (``fetchmany``) in constant memory, on either engine
    (SQLite's cursors already step through the table); close the cursor when done."""
    if isinstance(db, Postgres):
        return db.stream(sql, parameters)
    return db.execute(sql, parameters)


@dataclass(frozen=True)
class Dialect:
    """The few expressions the two engines spell differently."""

    name: str

    @property
    def postgres(self) -> bool:
        return self.name == "postgresql"

    def json_text(self, column: str, *path: str, blob: bool = False) -> str:
        """The text at ``path`` inside the JSON document in ``column`` (``blob``: UTF-8 bytes)."""
        if self.postgres:
            doc = f"convert_from({column}, 'UTF8')::jsonb" if blob else f"{column}::jsonb"
            inner = "".join(f" -> '{p}'" for p in path[:-1])
            return f"({doc}{inner} ->> '{path[-1]}')"
        source = f"CAST({column} AS TEXT)" if blob else column
        return f"json_extract({source}, '$.{'.'.join(path)}')"

    def json_list_has(self, column: str, *path: str) -> str:
        """True when the JSON array at ``path`` holds the parameter (one ``?``)."""
        if self.postgres:
            node = f"{column}::jsonb" + "".join(f" -> '{p}'" for p in path)
            return (
                f"EXISTS (SELECT 1 FROM jsonb_array_elements_text(CASE WHEN jsonb_typeof({node}) = 'array'"
                f" THEN {node} ELSE '[]'::jsonb END) AS e(value) WHERE e.value = ?)"
            )
        return f"EXISTS (SELECT 1 FROM json_each({column}, '$.{'.'.join(path)}') WHERE value = ?)"

    def json_keys_have(self, column: str, path: str, count: int) -> str:
        """True when the JSON object at ``path`` has one of ``count`` keys (``count`` ``?``)."""
        marks = ", ".join("?" * count)
        if self.postgres:
            node = f"{column}::jsonb -> '{path}'"
            return (
                f"EXISTS (SELECT 1 FROM jsonb_object_keys(CASE WHEN jsonb_typeof({node}) = 'object'"
                f" THEN {node} ELSE '{{}}'::jsonb END) AS k(key) WHERE k.key IN ({marks}))"
            )
        return f"EXISTS (SELECT 1 FROM json_each({column}, '$.{path}') WHERE key IN ({marks}))"


SQLITE = Dialect("sqlite")
POSTGRESQL = Dialect("postgresql")

"""Read-only SQLite connections, one per thread, for the store's readers.

The API, console, reports and the notifier read while the ingest thread writes: each thread gets
a read-only connection of its own (WAL lets it read beside the writer's commits, without the
writer's lock). A connection is closed when its thread ends — its thread-local holder goes, and a
finalizer closes it — so worker threads that come and go leave no open files behind.
"""

from __future__ import annotations

import sqlite3
import threading
import weakref
from pathlib import Path
from typing import Any

from hub.errors import StoreError


class _Holder:
    __slots__ = ("__weakref__", "conn")

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn


class ReadConnections:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        self._closers: list[weakref.finalize[Any, Any]] = []
        self._lock = threading.Lock()

    def get(self) -> sqlite3.Connection:
        """This thread's connection, opened on first use."""
        holder: _Holder | None = getattr(self._local, "holder", None)
        if holder is None:
            try:
                conn = sqlite3.connect(
                    self.path.resolve().as_uri() + "?mode=ro", uri=True, isolation_level=None,
                    check_same_thread=False,
                )  # fmt: skip
                conn.execute("PRAGMA busy_timeout = 5000")
            except sqlite3.Error as exc:
                raise StoreError(f"store {self.path}: cannot open for reading: {exc}") from exc
            holder = self._local.holder = _Holder(conn)
            closer = weakref.finalize(holder, conn.close)
            with self._lock:
                self._closers = [c for c in self._closers if c.alive]
                self._closers.append(closer)
        return holder.conn

    def close(self) -> None:
        """Close every thread's connection (the store is closing)."""
        with self._lock:
            closers, self._closers = self._closers, []
        for closer in closers:
            closer()

"""Copies the agent's evidence files to the hub: durably queued, oldest first, until PUBACK.

The files the events name — the annotated snapshot at a condition's start, the MP4 clip around
it — live on the edge box. A supervisor at the hub must see them even when the box is off the
network or has pruned them, so each one is queued in SQLite when its event is emitted and sent on
a connection of its own (a 2 MB clip never delays an event on the events connection) as a signed
file message (protocol/files.py). A row goes only on the broker's PUBACK; the broker keeps QoS 1
messages for the hub's persistent session while the hub is away. A file that is gone (pruned) or
larger than the limit is dropped with a counted, logged reason; a failed send is retried with
backoff, so an outage delays files and loses none.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from foundation.mqtt_link import LinkError, MqttLink
from protocol.clock import Clock
from protocol.files import encode_file, valid_path

log = logging.getLogger(__name__)

RETRY_MIN_S = 2.0
RETRY_MAX_S = 120.0
MAX_ATTEMPTS = 30
"""A file that fails this often (unreadable, or the broker drops the link on it) is given up,
so it cannot hold the queue behind it for ever."""


class EvidenceUploads:
    def __init__(
        self,
        root: Path,
        db_path: Path,
        link: MqttLink,
        topic: str,
        *,
        center: str,
        agent: str,
        key: bytes,
        clock: Clock,
        max_bytes: int,
        ack_timeout_s: float = 30.0,
        ready: Callable[[], bool] = lambda: True,
        roots: Mapping[str, Path] | None = None,
    ) -> None:
        self.root = root
        self.roots = dict(roots or {})
        """Folders of paths outside the evidence root, by first component (``segments``: recordings)."""
        self.link = link
        self.topic = topic
        self.center, self.agent, self.key = center, agent, key
        self.clock = clock
        self.max_bytes = max_bytes
        self.ack_timeout_s = ack_timeout_s
        self.ready = ready
        """Whether the hub can take files now (the publisher's ``hub_online``): a broker without
        the hub's session would acknowledge a file and drop it."""
        self.counters = {"uploads_sent": 0, "uploads_dropped": 0, "uploads_retried": 0}
        self._db = sqlite3.connect(db_path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS uploads (path TEXT PRIMARY KEY, queued_ms INTEGER NOT NULL,"
            " attempts INTEGER NOT NULL DEFAULT 0, next_try REAL NOT NULL DEFAULT 0)"
        )
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="evidence-uploads", daemon=True)

    def start(self) -> EvidenceUploads:
        self.link.on_connected = self._on_connected
        self.link.start()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(self.ack_timeout_s + 5)
        self.link.stop()
        with self._lock:
            self._db.close()

    def _on_connected(self) -> None:
        with self._lock:  # a new connection: what waited out a backoff goes now, oldest first
            self._db.execute("UPDATE uploads SET next_try = 0 WHERE next_try > 0 AND attempts < 3")
        self._wake.set()

    def add(self, path: str) -> None:
        """Queue a file (relative to the evidence root) for the hub; queuing it twice is one."""
        if not valid_path(path):
            self._drop(path, "not an evidence path")
            return
        with self._lock:
            self._db.execute(
                "INSERT OR IGNORE INTO uploads (path, queued_ms) VALUES (?, ?)", (path, self.clock.now_ms())
            )
        self._wake.set()

    def pending(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM uploads").fetchone()[0])

    def _next(self) -> tuple[str, int] | None:
        with self._lock:
            row = self._db.execute(
                "SELECT path, attempts FROM uploads WHERE next_try <= ? ORDER BY queued_ms, path LIMIT 1",
                (time.time(),),
            ).fetchone()
        return None if row is None else (str(row[0]), int(row[1]))

    def _done(self, path: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM uploads WHERE path = ?", (path,))

    def _drop(self, path: str, reason: str) -> None:
        self.counters["uploads_dropped"] += 1
        log.warning("evidence file %s not sent to the hub: %s", path, reason)
        self._done(path)

    def _later(self, path: str, attempts: int, reason: str) -> None:
        self.counters["uploads_retried"] += 1
        delay = min(RETRY_MAX_S, RETRY_MIN_S * 2 ** min(attempts, 10))
        log.info("evidence file %s: %s; retry in %.0f s", path, reason, delay)
        with self._lock:
            self._db.execute(
                "UPDATE uploads SET attempts = attempts + 1, next_try = ? WHERE path = ?",
                (time.time() + delay, path),
            )

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(1.0)
            self._wake.clear()
            try:
                while self.link.connected.is_set() and self.ready() and not self._stop.is_set():
                    item = self._next()
                    if item is None:
                        break
                    if not self._send(*item):
                        break
            except Exception:  # a full disk, a paho error: logged, retried, the thread lives on
                log.exception("evidence uploads failed; retrying in 5 s")
                self._stop.wait(5.0)

    def _send(self, path: str, attempts: int) -> bool:
        """One file; ``False`` when the link failed (the loop waits for it)."""
        if attempts >= MAX_ATTEMPTS:
            self._drop(path, f"given up after {attempts} attempts")
            return True
        head, _, rest = path.partition("/")
        target = self.roots[head] / rest if head in self.roots else self.root / path
        try:
            size = target.stat().st_size
            if size > self.max_bytes:
                self._drop(path, f"{size} bytes is over the {self.max_bytes}-byte limit")
                return True
            body = target.read_bytes()
        except FileNotFoundError:
            self._drop(path, "the file is gone (pruned or never written)")
            return True
        except OSError as exc:
            self._later(path, attempts, f"unreadable ({exc})")
            return True
        payload = encode_file(self.center, self.agent, path, body, key=self.key, ts=self.clock.now_ms())
        try:
            acked = self.link.publish_wait(self.topic, payload, timeout_s=self.ack_timeout_s)
        except LinkError as exc:
            self._later(path, attempts, f"not sent ({exc})")
            return False
        if not acked:
            self._later(path, attempts, "no PUBACK in time")
            return False
        self._done(path)
        self.counters["uploads_sent"] += 1
        return True

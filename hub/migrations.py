"""Versioned schema migrations of the hub's store, counted in SQLite's ``PRAGMA user_version``.

``MIGRATIONS`` lists every schema change in order, numbered 1, 2, 3… without holes. Opening a
store applies the ones above its ``user_version``, each in its own ``BEGIN IMMEDIATE`` transaction
together with the new ``user_version`` (the pragma lives in the database header, so it commits or
rolls back with the migration): a failure or a SIGKILL halfway leaves the store at the previous
version, never in between. A store written by a newer casewatch (``user_version`` above the last
migration known here) is refused rather than guessed at.

Adding a migration is a function and one line::

    def _v2_timers(db: Database) -> None:
        db.create_table("timers", {"id": str, "due_ms": int}, pk="id", not_null={"due_ms"})

    MIGRATIONS = [..., Migration(2, "persisted rule timers", _v2_timers)]

A migration only ever adds or transforms; it never edits ``events`` rows, whose bytes the hash
chain covers (see ``hub.store``). Tables are created through sqlite-utils (it writes the DDL and
quotes names); its write helpers nest inside our transaction as savepoints.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlite_utils import Database

from hub.errors import StoreError


@dataclass(frozen=True)
class Migration:
    version: int
    summary: str
    apply: Callable[[Database], None]


def _v1_events(db: Database) -> None:
    """The append-only, hash-chained event log and the ingest's bookkeeping around it."""
    events = db.create_table(
        "events",
        {
            "pos": int,  # chain position 1..n, assigned by the store (head + 1), never reused
            "agent": str,
            "seq": int,
            "id": str,
            "kind": str,
            "ts": int,  # event time, ms UTC
            "received_ms": int,
            "body": bytes,  # canonical JSON of the whole signed event: what the chain hashes
            "prev_hash": str,
            "hash": str,
        },
        pk="pos",
        not_null={"agent", "seq", "id", "kind", "ts", "received_ms", "body", "prev_hash", "hash"},
    )
    events.create_index(["agent", "seq"], index_name="events_agent_seq", unique=True)
    events.create_index(["kind", "ts"], index_name="events_kind_ts")
    events.create_index(["ts"], index_name="events_ts")

    quarantine = db.create_table(
        "quarantine",
        {
            "id": int,
            "received_ms": int,
            "topic": str,
            "code": str,  # short machine reason: signature, schema, malformed, oversize, ...
            "reason": str,  # human text
            "agent": str,  # the claimed agent, when one could be read
            "size": int,  # length of the original payload
            "raw": bytes,  # its first RAW_LIMIT bytes
        },
        pk="id",
        not_null={"received_ms", "code", "reason", "size", "raw"},
    )
    quarantine.create_index(["code"], index_name="quarantine_code")

    db.create_table(
        "agent_seq",
        {"agent": str, "next_expected": int, "last_ts": int, "last_received_ms": int},
        pk="agent",
        not_null={"next_expected"},
    )
    db.create_table(
        "gaps",
        {"id": int, "agent": str, "first": int, "last": int, "detected_ms": int},
        pk="id",
        not_null={"agent", "first", "last", "detected_ms"},
    )
    db.create_table("meta", {"key": str, "value": str}, pk="key", not_null={"value"})


def _v2_derived(db: Database) -> None:
    """What the hub derives from the log (``hub.state_store``): rebuildable, so never hashed."""
    db.create_table(
        "rule_state",
        {"rule": str, "key": str, "state": str, "due_ms": int},
        pk=("rule", "key"),
        not_null={"state"},
    )
    alerts = db.create_table(
        "alerts",
        {
            "id": str,
            "rule": str,
            "level": str,
            "state": str,
            "active": int,
            "opened_ms": int,
            "updated_ms": int,
            "doc": str,
        },
        pk="id",
        not_null={"rule", "level", "state", "opened_ms", "updated_ms", "doc"},
    )
    alerts.create_index(["state", "opened_ms"], index_name="alerts_by_state")
    alerts.create_index(["opened_ms"], index_name="alerts_by_time")
    log = db.create_table(
        "alert_log",
        {
            "id": int,
            "alert": str,
            "at_ms": int,
            "by": str,
            "action": str,
            "state": str,
            "level": str,
            "comment": str,
            "late": int,
        },
        pk="id",
        not_null={"alert", "at_ms", "by", "action", "state", "level"},
    )
    log.create_index(["alert", "id"], index_name="alert_log_by_alert")
    db.create_table(
        "projections", {"kind": str, "key": str, "doc": str}, pk=("kind", "key"), not_null={"doc"}
    )


def _v3_notifications(db: Database) -> None:
    """Notifications (``hub.notify``): one row per message to one recipient, every attempt kept."""
    notes = db.create_table(
        "notifications",
        {
            "id": int,
            "dedupe": str,  # alert|level|channel|recipient: a second copy is never planned
            "alert": str,
            "level": str,
            "reason": str,  # raise / level / escalate
            "channel": str,  # sms / webhook / mqtt
            "recipient": str,  # officer id, webhook id or topic
            "role": str,
            "target": str,  # phone number, URL or topic
            "body": str,
            "state": str,  # pending / sent / failed / suppressed
            "detail": str,
            "attempts": int,
            "created_ms": int,
            "updated_ms": int,
            "next_ms": int,
        },
        pk="id",
        not_null={"dedupe", "alert", "channel", "recipient", "body", "state", "attempts", "created_ms"},
    )
    notes.create_index(["dedupe"], index_name="notifications_dedupe", unique=True)
    notes.create_index(["state", "next_ms"], index_name="notifications_due")
    notes.create_index(["recipient", "created_ms"], index_name="notifications_by_recipient")
    attempts = db.create_table(
        "notification_attempts",
        {"id": int, "notification": int, "at_ms": int, "ok": int, "detail": str},
        pk="id",
        not_null={"notification", "at_ms", "ok"},
    )
    attempts.create_index(["notification"], index_name="notification_attempts_by_note")


def _v4_subject_columns(db: Database) -> None:
    """Events by the person and the band they concern (a person's timeline, 全程电子轨迹).

    Plain columns filled at insert from the event the ingest already parsed — not indexes on a
    JSON expression, which would parse every body again on the hot path. Derived, like ``kind``
    and ``ts``: the chain covers ``body``. Rows stored before this migration are filled once.
    """
    db.execute("ALTER TABLE events ADD COLUMN person TEXT")
    db.execute("ALTER TABLE events ADD COLUMN band TEXT")
    text = "CAST(body AS TEXT)"
    person = f"CASE WHEN json_valid({text}) THEN json_extract({text}, '$.subject.person') END"
    band = f"CASE WHEN json_valid({text}) THEN json_extract({text}, '$.subject.band') END"
    db.execute(f"UPDATE events SET person = {person}, band = {band}")
    db.execute("CREATE INDEX events_person ON events (person) WHERE person IS NOT NULL")
    db.execute("CREATE INDEX events_band ON events (band, ts) WHERE band IS NOT NULL")


def _v5_accounts(db: Database) -> None:
    """Console accounts an admin made (hub/accounts.py); those of the hub file stay in the file."""
    db.create_table(
        "accounts",
        {
            "username": str,
            "display_name": str,
            "role": str,
            "password_hash": str,
            "disabled": int,
            "created_ms": int,
            "updated_ms": int,
            "updated_by": str,
            "sessions_from_ms": int,  # tokens issued before this are void (disabled, new password)
        },
        pk="username",
        not_null={"role", "password_hash", "disabled", "created_ms", "updated_ms", "updated_by"},
    )


def _v6_epochs(db: Database) -> None:
    """Outbox identities: an agent's events are unique by (agent, epoch, seq), sequences per stream.

    Events of agents from before epochs keep ``epoch = ''``. ``agent_streams`` replaces
    ``agent_seq``: the next expected seq of each (agent, epoch) an agent has sent from.
    """
    db.execute("ALTER TABLE events ADD COLUMN epoch TEXT NOT NULL DEFAULT ''")
    db.execute("CREATE UNIQUE INDEX events_agent_epoch_seq ON events (agent, epoch, seq)")
    db.execute("DROP INDEX events_agent_seq")
    db.execute("ALTER TABLE gaps ADD COLUMN epoch TEXT NOT NULL DEFAULT ''")
    db.create_table(
        "agent_streams",
        {
            "agent": str,
            "epoch": str,
            "next_expected": int,
            "highest": int,  # the highest seq stored (what the receipt says)
            "last_ts": int,
            "last_received_ms": int,
        },
        pk=("agent", "epoch"),
        not_null={"agent", "epoch", "next_expected", "highest"},
    )
    db.execute(
        "INSERT INTO agent_streams (agent, epoch, next_expected, highest, last_ts, last_received_ms)"
        " SELECT agent, '', next_expected, next_expected - 1, last_ts, last_received_ms FROM agent_seq"
    )
    db.execute(  # the highest seq stored, which a hole may put above next_expected - 1
        "UPDATE agent_streams SET highest = max(highest, coalesce("
        "(SELECT max(seq) FROM events WHERE events.agent = agent_streams.agent), 0))"
    )
    db.execute("DROP TABLE agent_seq")


def _v7_chain_v2(db: Database) -> None:
    """From the next row on, each link also hashes the row's ``received_ms`` (``hub.chain``): the
    hub's arrival time was the one stored column the chain did not cover. Earlier rows keep v1."""
    db.execute(
        "INSERT INTO meta (key, value) VALUES ('chain_v2_from', "
        "(SELECT CAST(coalesce(max(pos), 0) + 1 AS TEXT) FROM events))"
    )


def _v8_revoked_sessions(db: Database) -> None:
    """Logged-out sessions, until their tokens would have expired: a restart must not revive them."""
    db.create_table(
        "revoked_sessions", {"nonce": str, "expires_ms": int}, pk="nonce", not_null={"expires_ms"}
    )


MIGRATIONS: list[Migration] = [
    Migration(1, "events hash chain, quarantine, agent sequences, gaps, meta", _v1_events),
    Migration(2, "rule states, alerts and their log, projections", _v2_derived),
    Migration(3, "notifications and their delivery attempts", _v3_notifications),
    Migration(4, "events' subject person and band as indexed columns", _v4_subject_columns),
    Migration(5, "console accounts made by admins", _v5_accounts),
    Migration(6, "outbox epochs: events unique by agent, epoch and seq; sequences per stream", _v6_epochs),
    Migration(7, "hash chain v2: each link covers the row's received_ms too", _v7_chain_v2),
    Migration(8, "revoked console and API sessions", _v8_revoked_sessions),
]


def latest_version(migrations: Sequence[Migration] = MIGRATIONS) -> int:
    return migrations[-1].version if migrations else 0


def schema_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(
    conn: sqlite3.Connection, *, where: str, migrations: Sequence[Migration] = MIGRATIONS
) -> list[int]:
    """Bring the store on ``conn`` up to the newest migration; return the versions applied.

    ``conn`` must be in autocommit mode (``isolation_level=None``): the transactions are ours.
    ``where`` names the store in error messages (its path).
    """
    numbers = [m.version for m in migrations]
    if numbers != list(range(1, len(numbers) + 1)):
        raise ValueError(f"migrations must be numbered 1..n without holes, got {numbers}")
    latest = latest_version(migrations)
    found = schema_version(conn)
    if found > latest:
        raise StoreError(
            f"store {where}: schema v{found} is newer than this casewatch (knows v{latest}): "
            "upgrade casewatch"
        )
    db = Database(conn, recursive_triggers=False, execute_plugins=False)
    applied: list[int] = []
    for migration in migrations[found:]:
        try:
            conn.execute("BEGIN IMMEDIATE")
            # Another process may have migrated while we waited for the write lock.
            if schema_version(conn) < migration.version:
                migration.apply(db)
                conn.execute(f"PRAGMA user_version = {int(migration.version)}")
                applied.append(migration.version)
            conn.execute("COMMIT")
        except BaseException as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise StoreError(
                    f"store {where}: migration v{migration.version} ({migration.summary}) failed: {exc}"
                ) from exc
            raise
    return applied

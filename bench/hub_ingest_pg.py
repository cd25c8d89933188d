"""bench/hub_ingest.py's PostgreSQL runs (``--store postgresql``): the same drain on a PostgreSQL
store, and a multi-centre hub drained by one worker process and by two.

(5) ``hub_eps_pg``: the single-centre hub of (1), receipts off, its store on PostgreSQL (a fresh
    database of the local server, default settings: ``synchronous_commit = on``), draining the
    same queued stream from a session of its own.
(6) ``workers_1_eps`` / ``workers_2_eps``: a hub file with two centres (``centers:``), each with
    an agent sending half of the stream; the halves are queued for the centres' persistent
    sessions (the client ids the workers use), the leases are handed out before the workers start
    (both centres to ``w1``; or one each to ``w1`` and ``w2``), so the figure is the drain, not the
    lease hand-out: events/s from the first event stored in either centre to the last stored and
    folded in both.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
import yaml

from tests.hub_helpers import AgentFeed
from tests.pg_helpers import fresh_database
from tests.secret_files import write_secret

CASEWATCH = str(Path(sys.executable).parent / "casewatch")
CENTRES = ("k1", "k2")


def scalar(dsn: str, sql: str) -> int:
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            row = conn.execute(sql).fetchone()
        return int(row[0]) if row and row[0] is not None else 0
    except psycopg.Error:
        return -1


def pg_drain(work: Path, config: Path, n: int, *, start_hub: Any) -> float:
    """Hub (1)'s config with its store moved to a fresh PostgreSQL database: events/s."""
    with fresh_database() as dsn:
        cfg = yaml.safe_load(config.read_text())
        cfg["store"] = {"backend": "postgresql", "dsn": dsn, "files": str(work / "files")}
        cfg["mqtt"]["client_id"] = "hub-bench-pg"
        pg_config = work / "hub-pg.yaml"
        pg_config.write_text(yaml.safe_dump(cfg, allow_unicode=True))
        proc, _ = start_hub(pg_config, work / "hub-pg.log")
        while scalar(dsn, "SELECT count(*) FROM events") < 1:
            time.sleep(0.002)
        started = time.perf_counter()
        while scalar(dsn, "SELECT value FROM meta WHERE key = 'rules_pos'") < n:
            time.sleep(0.01)
        took = time.perf_counter() - started
        proc.terminate()
        proc.wait(20)
    return n / took


def centres_file(work: Path, dsn: str, port: int, feeds: dict[str, AgentFeed], rules: list[str]) -> Path:
    write_secret(work / "hub.key", "k" * 64)
    centres = []
    for centre, feed in feeds.items():
        write_secret(work / f"{feed.agent}.key", feed.key_text)
        centres.append({
            "id": centre,
            "rooms": [{"id": "int-1", "name": "讯问室1", "type": "interrogation"},
                      {"id": "wait-1", "name": "候问室1", "type": "waiting"}],
            "agents": [{"id": feed.agent, "key_file": f"{feed.agent}.key"}],
        })  # fmt: skip
    config = {
        "center": "bench", "signing": {"key_file": "hub.key"},
        "store": {"backend": "postgresql", "dsn": dsn, "files": str(work / "files")},
        "mqtt": {"host": "127.0.0.1", "port": port, "protocol": "5", "client_id": "hub-bench-w"},
        "rules": rules, "centers": centres, "ingest": {"receipts": False},
        "reports": {"scheduled": False}, "workers": {"lease_s": 15},
    }  # fmt: skip
    path = work / "hub.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True))
    return path


def workers_drain(
    work: Path, broker: Any, feeds: dict[str, AgentFeed], streams: dict[str, list[tuple[str, bytes]]],
    owners: dict[str, str], rules: list[str], *, register: Any, publish: Any,
) -> float:  # fmt: skip
    """Both centres' halves queued, leases handed out as ``owners`` says, then the workers started."""
    from hub.lease_table import LeaseTable

    work.mkdir(exist_ok=True)
    with fresh_database() as dsn:
        config = centres_file(work, dsn, broker.port, feeds, rules)
        register(
            broker, [f"hub-bench-w-{c}" for c in CENTRES], {c: f"casewatch/{c}/+/events/#" for c in CENTRES}
        )
        for centre in CENTRES:
            publish(broker, streams[centre])
        table = LeaseTable(dsn, 15)
        for centre, worker in owners.items():
            table.take(centre, worker)
        table.close()
        procs = []
        for w in sorted(set(owners.values())):
            command = [CASEWATCH, "hub", "--config", str(config), "--worker-id", w, "--http-port", "-1"]
            log = (work / f"{w}.log").open("ab")
            procs.append(
                subprocess.Popen([*command, "--log-format", "json"], stdout=log, stderr=subprocess.STDOUT)
            )
        count = f"SELECT {' + '.join(f'(SELECT count(*) FROM cw_{c}.events)' for c in CENTRES)}"
        while scalar(dsn, count) < 1:
            time.sleep(0.002)
        started = time.perf_counter()
        folded = " + ".join(
            f"coalesce((SELECT value::bigint FROM cw_{c}.meta WHERE key = 'rules_pos'), 0)" for c in CENTRES
        )
        total = sum(len(s) for s in streams.values())
        while scalar(dsn, f"SELECT {folded}") < total:
            time.sleep(0.01)
        took = time.perf_counter() - started
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(30)
    return total / took

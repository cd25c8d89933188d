"""The hub's per-event costs, stage by stage, in one process: what the capacity table is built from.

The same busy-centre stream as bench/hub_ingest.py (bench/hub_workloads.py), through the real
hub's parts opened from a hub file (no network): (a) admission — decode, schema, signature,
sequence; (b) the durable commit of batches of 500 — SQLite (``synchronous=FULL``) and PostgreSQL
(the local server, ``synchronous_commit = on``); (c) the rules — the shipped pack folding the
stored events in (projections, episodes, alerts) and saving what changed. Microseconds per event
of one core's time, each stage timed alone.
Usage: python bench/hub_stages.py [--events 20000]
Last line: {"admit_us": ..., "commit_sqlite_us": ..., "commit_pg_us": ..., "rules_us": ..., ...}
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from hub_workloads import mixed_stream  # noqa: E402  (bench/, beside this script)

from foundation.configfile import load_config  # noqa: E402
from hub.config import HubConfig  # noqa: E402
from hub.service import HubService  # noqa: E402
from hub.store import Batch, Incoming  # noqa: E402
from tests.hub_helpers import AgentFeed, hub_config  # noqa: E402
from tests.pg_helpers import fresh_schema  # noqa: E402

RULES = str(REPO / "configs" / "rules" / "*.yaml")
BATCH = 500


def opened(work: Path, feed: AgentFeed, store: dict[str, str]) -> HubService:
    work.mkdir(exist_ok=True)
    path = hub_config(work, None, agent_key=feed.key_text, rules=[RULES], store=store)
    return HubService(load_config(path, HubConfig), work).open()


def admit(service: HubService, stream: list[tuple[str, bytes]]) -> tuple[float, list[Incoming]]:
    now = int(time.time() * 1000)
    started = time.perf_counter()
    admitted = [service.admission.admit(payload, topic, now) for topic, payload in stream]
    took = time.perf_counter() - started
    events = [a for a in admitted if isinstance(a, Incoming)]
    assert len(events) == len(stream), "every event of the stream must pass"
    return took / len(stream) * 1e6, events


def commit(service: HubService, events: list[Incoming]) -> tuple[float, list]:  # type: ignore[type-arg]
    stored = []
    started = time.perf_counter()
    for i in range(0, len(events), BATCH):
        stored += service.store.write(Batch(events=events[i : i + BATCH]))
    return (time.perf_counter() - started) / len(events) * 1e6, stored


def rules(service: HubService, stored: list) -> float:  # type: ignore[type-arg]
    core = service.core
    started = time.perf_counter()
    for i in range(0, len(stored), BATCH):
        now = stored[min(i + BATCH, len(stored)) - 1].ts
        core.process(stored[i : i + BATCH], now)
        service.derived.save(core.take_changes(now))
    return (time.perf_counter() - started) / len(stored) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=20_000)
    args = parser.parse_args()
    feed = AgentFeed(epoch="be4c4be4c4be4c4b")
    stream = mixed_stream(feed, args.events, int(time.time() * 1000) - 60_000)
    with tempfile.TemporaryDirectory(prefix="cw-stages-") as tmp, fresh_schema() as dsn:
        work = Path(tmp)
        lite = opened(work / "sqlite", feed, {"path": str(work / "sqlite" / "hub.db"), "synchronous": "FULL"})
        admit_us, events = admit(lite, stream)
        lite_us, stored = commit(lite, events)
        rules_us = rules(lite, stored)
        lite.store.close()
        pg = opened(work / "pg", feed, {"backend": "postgresql", "dsn": dsn, "files": str(work / "pg")})
        pg_us, _ = commit(pg, events)
        pg.store.close()
    total_lite, total_pg = admit_us + lite_us + rules_us, admit_us + pg_us + rules_us
    costs = f"admission {admit_us:.0f} µs, commit SQLite {lite_us:.0f} µs / PostgreSQL {pg_us:.0f} µs"
    rates = f"{1e6 / total_lite:,.0f} events/s on SQLite, {1e6 / total_pg:,.0f} on PostgreSQL"
    print(f"{costs}, rules {rules_us:.0f} µs per event; one core: {rates} (before MQTT)", file=sys.stderr)
    figures = {"admit_us": admit_us, "commit_sqlite_us": lite_us, "commit_pg_us": pg_us, "rules_us": rules_us}
    print(json.dumps({
        **{k: round(v, 1) for k, v in figures.items()}, "core_eps_sqlite": round(1e6 / total_lite),
        "core_eps_pg": round(1e6 / total_pg), "events": args.events, "cpus": os.cpu_count(),
    }))  # fmt: skip


if __name__ == "__main__":
    main()

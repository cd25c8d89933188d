# ruff: noqa: F811 - the fixtures imported below are test parameters here, as pytest means them
"""The agent's side of issue 15's faults, in-process against a real hub on a real Mosquitto: a
full outbox disk, and an outbox restored from an old snapshot (gone back in time under its epoch)."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

from agent.config import AgentConfig
from agent.runtime import Agent
from foundation.configfile import load_config
from hub.service import HubService
from tests.hub_helpers import AgentFeed
from tests.test_hub_faults import agent_rows, feed, hub, pub  # noqa: F401 - fixtures
from tests.waiting import wait_until


def edge_config(tmp_path: Path, broker: Any, feed: AgentFeed, *, heartbeat_s: float) -> Path:
    """An in-process agent's config on the test broker: receipts and wait_for_hub on, as shipped."""
    from tests.agent_process import agent_config

    (tmp_path / "edge").mkdir()
    mqtt = {"host": "127.0.0.1", "port": broker.port, "keepalive_s": 5, "client_id": f"a-{tmp_path.name}"}
    return agent_config(
        tmp_path / "edge", broker.port, key=feed.key_text, mqtt=mqtt, ops={"enabled": False},
        outbox={"wait_for_hub": True, "receipts": True},
        timing={"heartbeat_interval_s": heartbeat_s, "stats_interval_s": 1.0},
    )  # fmt: skip


# the agent's outbox disk full ----------------------------------------------------------------------
def test_a_full_outbox_disk_holds_events_in_memory_and_loses_none(
    tmp_path: Path, mqtt_broker: Any, feed: AgentFeed, hub: HubService
) -> None:
    path = edge_config(tmp_path, mqtt_broker, feed, heartbeat_s=0.02)
    agent = Agent(load_config(path, AgentConfig)).start()
    outbox = agent.outbox
    try:
        assert wait_until(lambda: agent.publisher.receipted > 20, 15)
        agent.publisher.set_hub_online(False)  # as if the hub were away: the outbox must grow
        with outbox._lock:  # SQLite's page limit on the outbox: the next page it needs is "disk full"
            pages = int(outbox._db.execute("PRAGMA page_count").fetchone()[0])
            outbox._db.execute(f"PRAGMA max_page_count = {pages}")
        assert wait_until(lambda: agent.unstored() > 50, 15), "appends did not fail"
        assert agent.health()["status"] == "degraded" and agent.counters["emit_errors"] > 0
        with outbox._lock:
            outbox._db.execute("PRAGMA max_page_count = 1073741823")
        assert wait_until(lambda: agent.unstored() == 0, 10)
        agent.publisher.set_hub_online(True)
        time.sleep(1)
    finally:
        agent.stop(drain_s=15)
    with sqlite3.connect(tmp_path / "edge" / "data" / "outbox.db") as db:
        last = int(db.execute("SELECT value FROM meta WHERE key = 'next_seq'").fetchone()[0]) - 1
        held = int(db.execute("SELECT count(*) FROM outbox").fetchone()[0])
    assert held == 0 and agent.counters["emit_dropped"] == 0
    stored = sorted(s for e, s in agent_rows(hub) if e == outbox.epoch)
    assert stored == list(range(1, last + 1)) and not hub.store.gaps()


def test_an_outbox_restored_from_an_old_snapshot_takes_a_new_epoch_and_loses_nothing(
    tmp_path: Path, mqtt_broker: Any, feed: AgentFeed, hub: HubService
) -> None:
    """Review: an outbox that goes back in time under its own epoch (a restored disk snapshot, a
    power cut losing its last commits) numbered new events with seqs the hub already had; they
    were dropped as replays and the receipt deleted them. Now the agent sees the receipt ahead of
    its numbering, takes a new epoch, and the hub records the reset and stores the new events."""
    import shutil

    path = edge_config(tmp_path, mqtt_broker, feed, heartbeat_s=0.05)
    data = tmp_path / "edge" / "data"
    first = Agent(load_config(path, AgentConfig)).start()
    assert wait_until(lambda: first.publisher.receipted >= 10, 15)
    first.stop(drain_s=1)  # the hub has all of this run (the snapshot below is of its start)
    snapshot_epoch = first.outbox.epoch
    shutil.copytree(data, tmp_path / "snapshot")  # a snapshot taken now ...
    again = Agent(load_config(path, AgentConfig)).start()
    assert wait_until(lambda: again.publisher.receipted >= first.publisher.receipted + 20, 15)
    again.stop(drain_s=5)
    shutil.rmtree(data)
    shutil.copytree(tmp_path / "snapshot", data)  # ... restored later: the outbox went back in time
    restored = Agent(load_config(path, AgentConfig)).start()
    try:
        assert wait_until(lambda: restored.counters["outbox_rebased"] == 1, 15)
        assert restored.outbox.epoch != snapshot_epoch
        new_epoch = restored.outbox.epoch
        assert wait_until(lambda: restored.publisher.receipted >= 20, 15)
    finally:
        restored.stop(drain_s=5)
    stored = sorted(s for e, s in agent_rows(hub) if e == new_epoch)
    assert stored == list(range(1, stored[-1] + 1)) and len(stored) >= 20
    assert any(s.kind == "ingest.reset" for s in hub.store.read())

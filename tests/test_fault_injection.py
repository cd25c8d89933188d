"""Fault injection with real processes: nothing an agent stored is lost or doubled, whatever dies.

The real ``casewatch agent`` (heartbeats at 50 events/s, receipts and ``wait_for_hub`` on, as
shipped) and the real ``casewatch hub`` run as child processes; the test kills the hub (SIGKILL,
its embedded broker dies with it), kills Mosquitto (persistence off) while the hub is frozen
(SIGSTOP) with events queued for it, and deletes the agent's outbox between two runs. At the end
the agent's count — its outbox's last seq, per epoch — must equal the hub's: every seq stored
exactly once, no gap recorded, a reset recorded and raised where the outbox was replaced. The
figures each run prints go in docs/reliability.md.
"""

from __future__ import annotations

import json
import random
import signal
import sqlite3
import time
from pathlib import Path

import httpx
import pytest

from hub.embedded_broker import free_port
from protocol.signing import new_key
from tests.agent_process import AgentProcess, agent_config
from tests.brokers import Mosquitto, mosquitto_binary
from tests.hub_helpers import AGENT, REPO, hub_config
from tests.hub_process import HubProcess
from tests.waiting import wait_until

pytestmark = pytest.mark.slow
FAST = {"timing": {"heartbeat_interval_s": 0.02, "stats_interval_s": 1.0}}  # ≥ 50 events/s
SHIPPED_OUTBOX = {"wait_for_hub": True, "receipts": True, "receipt_timeout_s": 5}
INGEST_RULES = [str(REPO / "configs" / "rules" / "ingest.yaml")]


def agent_counts(workdir: Path) -> dict[str, tuple[int, int]]:
    """What the agent's outbox says: its epoch -> (last seq it numbered, events still held)."""
    with sqlite3.connect(workdir / "data" / "outbox.db") as db:
        epoch = str(db.execute("SELECT epoch FROM identity").fetchone()[0])
        last = int(db.execute("SELECT value FROM meta WHERE key = 'next_seq'").fetchone()[0]) - 1
        held = int(db.execute("SELECT count(*) FROM outbox").fetchone()[0])
    return {epoch: (last, held)}


def hub_seqs(db_path: Path) -> dict[str, list[int]]:
    with sqlite3.connect(db_path) as db:
        rows = db.execute(
            "SELECT epoch, seq FROM events WHERE agent = ? ORDER BY epoch, seq", (AGENT,)
        ).fetchall()
    out: dict[str, list[int]] = {}
    for epoch, seq in rows:
        out.setdefault(str(epoch), []).append(int(seq))
    return out


def hub_kinds(db_path: Path) -> list[str]:
    with sqlite3.connect(db_path) as db:
        return [str(k) for (k,) in db.execute("SELECT kind FROM events WHERE agent = 'hub'")]


def assert_nothing_lost(workdir: Path, agent_epochs: dict[str, tuple[int, int]], db_path: Path) -> int:
    """Every seq the agent numbered is in the hub's log exactly once; no gap was recorded."""
    stored = hub_seqs(db_path)
    total = 0
    for epoch, (last, held) in agent_epochs.items():
        assert held == 0, f"{held} events still in the outbox of {epoch}"
        assert stored.get(epoch) == list(range(1, last + 1)), (epoch, last, len(stored.get(epoch, [])))
        total += last
    with sqlite3.connect(db_path) as db:
        (gaps,) = db.execute("SELECT count(*) FROM gaps").fetchone()
        (rows,) = db.execute("SELECT count(*) FROM events WHERE agent = ?", (AGENT,)).fetchone()
    assert gaps == 0 and "ingest.gap" not in hub_kinds(db_path)
    assert rows == total  # no duplicate rows
    return total


def stop_agent_flushed(agent: AgentProcess, workdir: Path, db_path: Path) -> dict[str, tuple[int, int]]:
    """Once the agent has caught up (reconnected after the last fault, its outbox nearly empty),
    SIGTERM: it stops sensing and waits for the hub's receipts of what it still holds."""

    def caught_up() -> bool:
        try:
            health = httpx.get(f"http://127.0.0.1:{agent.ops_port}/healthz", timeout=2).json()
        except (httpx.HTTPError, ValueError):
            return False
        return bool(health["mqtt_connected"] and health["hub_online"] and health["outbox_depth"] < 200)

    assert wait_until(caught_up, 90), "the agent did not catch up after the last fault"
    assert agent.terminate() == 0
    return agent_counts(workdir)


def report(name: str, events: int, faults: int) -> None:
    figures = {"case": name, "events": events, "faults": faults, "lost": 0, "duplicated": 0}
    print(f"\nRELIABILITY {json.dumps(figures)}")


def embedded_centre(tmp_path: Path) -> tuple[Path, Path, HubProcess, Path]:
    """A hub with its embedded broker, started, and an agent's config for it (shipped outbox)."""
    key = new_key()
    port = free_port()
    hub_dir, agent_dir = tmp_path / "hub", tmp_path / "agent"
    hub_dir.mkdir()
    agent_dir.mkdir()
    cfg = hub_config(hub_dir, None, agent_key=key, rules=INGEST_RULES, embedded_broker={"port": port})
    hub = HubProcess(cfg, hub_dir / "hub.log").start()
    return hub_dir, agent_dir, hub, agent_config(agent_dir, port, key=key, outbox=SHIPPED_OUTBOX, **FAST)


def mosquitto_centre(tmp_path: Path, *, max_queued: int = 0, **outbox: object) -> tuple[
    Path, Path, Mosquitto, HubProcess, AgentProcess
]:  # fmt: skip
    """Mosquitto (persistence off), a hub process on it, started, and an agent for it (not started)."""
    key = new_key()
    hub_dir, agent_dir, broker_dir = tmp_path / "hub", tmp_path / "agent", tmp_path / "broker"
    for folder in (hub_dir, agent_dir, broker_dir):
        folder.mkdir()
    broker = Mosquitto(broker_dir, mosquitto_binary() or "", max_queued=max_queued).start()
    hub = HubProcess(hub_config(hub_dir, broker.port, agent_key=key, rules=INGEST_RULES), hub_dir / "hub.log")
    hub.start()
    config = agent_config(agent_dir, broker.port, key=key, outbox={**SHIPPED_OUTBOX, **outbox}, **FAST)
    return hub_dir, agent_dir, broker, hub, AgentProcess(config, agent_dir / "agent.log")


def stop_everything(agent: AgentProcess, hub: HubProcess, broker: Mosquitto) -> None:
    agent.stop()
    if hub.proc is not None and hub.proc.poll() is None:
        hub.proc.send_signal(signal.SIGCONT)
    hub.stop()
    broker.stop()


def test_hub_sigkill_ten_times_on_the_embedded_broker(tmp_path: Path) -> None:
    hub_dir, agent_dir, hub, config = embedded_centre(tmp_path)
    agent = AgentProcess(config, agent_dir / "agent.log")
    rng = random.Random(15)
    try:
        agent.start()
        for _ in range(10):
            time.sleep(rng.uniform(0.8, 2.0))
            hub.kill()  # the embedded broker dies with it, holding what it had acknowledged
            time.sleep(rng.uniform(0.1, 1.0))
            hub.start()
        time.sleep(2)
        counts = stop_agent_flushed(agent, agent_dir, hub_dir / "hub.db")
    finally:
        agent.stop()
        hub.stop()
    events = assert_nothing_lost(agent_dir, counts, hub_dir / "hub.db")
    assert events >= 500
    report("hub SIGKILL x10, embedded broker", events, 10)


@pytest.mark.skipif(mosquitto_binary() is None, reason="needs Debian's mosquitto (.ci/run installs it)")
def test_mosquitto_sigkill_five_times_while_the_hub_lags(tmp_path: Path) -> None:
    hub_dir, agent_dir, broker, hub, agent = mosquitto_centre(tmp_path)
    try:
        agent.start()
        time.sleep(2)
        for _ in range(5):
            assert hub.proc is not None
            hub.proc.send_signal(signal.SIGSTOP)  # the hub lags: the broker queues events for it
            time.sleep(2.0)
            broker.kill()  # ... and dies with them (PUBACKed to the agent long ago)
            broker.start()
            hub.proc.send_signal(signal.SIGCONT)
            time.sleep(3.0)
        counts = stop_agent_flushed(agent, agent_dir, hub_dir / "hub.db")
    finally:
        stop_everything(agent, hub, broker)
    events = assert_nothing_lost(agent_dir, counts, hub_dir / "hub.db")
    assert events >= 500
    report("Mosquitto SIGKILL x5 (persistence off) while the hub is stopped", events, 5)


@pytest.mark.skipif(mosquitto_binary() is None, reason="needs Debian's mosquitto (.ci/run installs it)")
def test_a_small_broker_queue_and_a_stopped_hub_lose_nothing_and_raise_no_false_gap(tmp_path: Path) -> None:
    """Review: a receipt past a hole made the agent delete events the hub never had (729 of 825
    stored, with Mosquitto's per-client queue at 30 and the hub stopped). Receipts now confirm the
    contiguous mark only, the agent sends unconfirmed events again (at most ``max_unconfirmed``
    past the receipt), and a hole is a loss only when the agent says so: every event arrives, and
    no false gap is recorded."""
    hub_dir, agent_dir, broker, hub, agent = mosquitto_centre(tmp_path, max_queued=30, max_unconfirmed=40)
    try:
        agent.start()
        time.sleep(2)
        for _ in range(3):
            assert hub.proc is not None
            hub.proc.send_signal(signal.SIGSTOP)
            time.sleep(4.0)  # ~200 events for a queue of 30
            hub.proc.send_signal(signal.SIGCONT)
            time.sleep(2.0)
        counts = stop_agent_flushed(agent, agent_dir, hub_dir / "hub.db")
    finally:
        stop_everything(agent, hub, broker)
    events = assert_nothing_lost(agent_dir, counts, hub_dir / "hub.db")
    report("Mosquitto with a queue of 30 for the hub, hub stopped 4 s x3", events, 3)


def test_an_agent_outbox_reset_is_recorded_raised_and_nothing_else_lost(tmp_path: Path) -> None:
    hub_dir, agent_dir, hub, config = embedded_centre(tmp_path)
    try:
        first = AgentProcess(config, agent_dir / "agent.log").start()
        time.sleep(3)
        before = stop_agent_flushed(first, agent_dir, hub_dir / "hub.db")
        (agent_dir / "data" / "outbox.db").unlink()  # the box's outbox is lost (a reinstall)
        for extra in ("outbox.db-wal", "outbox.db-shm"):
            (agent_dir / "data" / extra).unlink(missing_ok=True)
        second = AgentProcess(config, agent_dir / "agent-2.log").start()  # its own log: its own port
        time.sleep(3)
        after = stop_agent_flushed(second, agent_dir, hub_dir / "hub.db")
        db_path = hub_dir / "hub.db"
        assert wait_until(lambda: _alert_rules(db_path) == ["INGEST-RESET"], 10), _alert_rules(db_path)
    finally:
        hub.stop()
    assert set(before) != set(after)
    events = assert_nothing_lost(agent_dir, {**before, **after}, hub_dir / "hub.db")
    assert hub_kinds(hub_dir / "hub.db").count("ingest.reset") == 1
    report("agent outbox deleted between two runs", events, 1)


def _alert_rules(db_path: Path) -> list[str]:
    try:
        with sqlite3.connect(db_path) as db:
            return [str(r) for (r,) in db.execute("SELECT rule FROM alerts ORDER BY opened_ms")]
    except sqlite3.Error:
        return []

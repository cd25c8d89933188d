"""One centre, one process (the embedded broker); and several hub workers splitting the agents
on a real Mosquitto: by owned agents (any broker) and by an MQTT v5 shared subscription."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt

from foundation.configfile import load_config
from foundation.errors import ConfigError
from hub.config import HubConfig
from hub.config import cross_check as hub_cross_check
from hub.service import HubService
from tests.hub_helpers import AgentFeed, hub_config
from tests.secret_files import write_secret
from tests.waiting import wait_until

AGENTS = ("box-01", "box-02", "box-03")


def publish(host: str, port: int, messages: list[tuple[str, bytes]]) -> None:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
    client.connect(host, port)
    client.loop_start()
    infos = [client.publish(topic, payload, qos=1) for topic, payload in messages]
    for info in infos:
        info.wait_for_publish(10)
    client.disconnect()
    client.loop_stop()


def stored(db: Path) -> list[tuple[str, int]]:
    with sqlite3.connect(db) as conn:
        return [
            (str(a), int(s)) for a, s in conn.execute("SELECT agent, seq FROM events WHERE agent != 'hub'")
        ]


def gaps(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT count(*) FROM gaps").fetchone()[0])


def vitals(feed: AgentFeed, n: int) -> list[tuple[str, bytes]]:
    now = int(time.time() * 1000)
    return [
        feed.message(feed.event("band.vitals", now + i, {"band": "B0001"}, {"heart_rate": 70}, "rx-1"))
        for i in range(n)
    ]


@contextmanager
def worker(
    workdir: Path,
    feeds: dict[str, AgentFeed],
    broker: Any | None,
    client_id: str | None = None,
    **workers: Any,
) -> Iterator[HubService]:
    workdir.mkdir(exist_ok=True)
    for agent, feed in feeds.items():
        write_secret(workdir / f"{agent}.key", feed.key_text)
    agents = [{"id": agent, "key_file": f"{agent}.key"} for agent in feeds]
    extra: dict[str, Any] = {"agents": agents, "workers": workers}
    if broker is not None:
        extra["mqtt"] = {
            "host": broker.host,
            "port": broker.port,
            "protocol": "5",
            "client_id": client_id or f"hub-{workdir.parent.name}-{workdir.name}",
        }
    else:
        extra["embedded_broker"] = {"host": "127.0.0.1", "port": 0}
    path = hub_config(workdir, None, agent_key=next(iter(feeds.values())).key_text, rules=[], **extra)
    service = HubService(load_config(path, HubConfig, cross_check=hub_cross_check), workdir).start()
    assert service.ready.wait(15)
    try:
        yield service
    finally:
        service.stop()


def test_without_a_broker_the_hub_runs_its_own_and_serves_everything(tmp_path: Path) -> None:
    feed = AgentFeed(agent="box-01")
    with worker(tmp_path / "solo", {"box-01": feed}, None) as hub:
        assert hub.broker is not None and hub.broker.port > 0
        publish("127.0.0.1", hub.broker.port, vitals(feed, 50))
        assert wait_until(lambda: len(stored(tmp_path / "solo" / "hub.db")) == 50, timeout_s=15)
        assert hub.http is not None
        health = httpx.get(f"{hub.http.url}/api/v1/health", timeout=5).json()
        assert health["status"] == "ok" and health["broker_connected"]


def test_workers_owning_agents_split_a_centre_whole_agents_each(tmp_path: Path, mqtt_broker: Any) -> None:
    feeds = {agent: AgentFeed(agent=agent) for agent in AGENTS}
    with ExitStack() as stack:
        a = stack.enter_context(worker(tmp_path / "a", feeds, mqtt_broker, agents=["box-01", "box-02"]))
        b = stack.enter_context(worker(tmp_path / "b", feeds, mqtt_broker, agents=["box-03"]))
        for feed in feeds.values():
            publish(mqtt_broker.host, mqtt_broker.port, vitals(feed, 300))
        db_a, db_b = tmp_path / "a" / "hub.db", tmp_path / "b" / "hub.db"
        assert wait_until(lambda: len(stored(db_a)) == 600 and len(stored(db_b)) == 300, timeout_s=30)
        time.sleep(0.5)  # nothing more arrives
        assert {agent for agent, _ in stored(db_a)} == {"box-01", "box-02"}
        assert sorted(stored(db_b)) == [("box-03", s) for s in range(1, 301)]
        assert gaps(db_a) == gaps(db_b) == 0  # each agent whole on one worker: no false data loss
        assert a.store.verify().ok and b.store.verify().ok


def test_a_shared_subscription_stores_every_event_exactly_once_across_workers(
    tmp_path: Path, mqtt_broker: Any
) -> None:
    feeds = {"box-01": AgentFeed(agent="box-01")}
    with ExitStack() as stack:
        stack.enter_context(worker(tmp_path / "a", feeds, mqtt_broker, share_group="hubs"))
        stack.enter_context(worker(tmp_path / "b", feeds, mqtt_broker, share_group="hubs"))
        publish(mqtt_broker.host, mqtt_broker.port, vitals(feeds["box-01"], 400))
        dbs = (tmp_path / "a" / "hub.db", tmp_path / "b" / "hub.db")
        assert wait_until(lambda: sum(len(stored(db)) for db in dbs) >= 400, timeout_s=30)
        time.sleep(0.5)
        first, second = (stored(db) for db in dbs)
        assert first and second  # both workers took a share
        assert sorted(first + second) == [("box-01", s) for s in range(1, 401)]  # none twice, none lost


def test_a_worker_owning_an_unknown_agent_is_refused(tmp_path: Path) -> None:
    path = hub_config(tmp_path, None, agent_key="k" * 64, rules=[], workers={"agents": ["box-09"]})
    try:
        load_config(path, HubConfig, cross_check=hub_cross_check)
    except ConfigError as exc:
        assert "workers.agents[0]: not one of the ids in agents:" in str(exc) and "box-09" in str(exc)
    else:
        raise AssertionError("accepted a worker owning an agent that is not configured")


def test_a_worker_given_other_agents_stops_receiving_the_old_ones(tmp_path: Path, mqtt_broker: Any) -> None:
    """Its persistent session would keep the old subscription: the hub drops it on connect."""
    feeds = {agent: AgentFeed(agent=agent) for agent in AGENTS[:2]}
    with worker(tmp_path / "w", feeds, mqtt_broker, client_id=f"hub-{tmp_path.name}", agents=["box-01"]):
        pass
    db = tmp_path / "w" / "hub.db"
    (tmp_path / "w" / "hub.yaml").unlink()
    with worker(tmp_path / "w", feeds, mqtt_broker, client_id=f"hub-{tmp_path.name}", agents=["box-02"]):
        publish(mqtt_broker.host, mqtt_broker.port, vitals(feeds["box-01"], 20) + vitals(feeds["box-02"], 20))
        assert wait_until(lambda: len(stored(db)) >= 20, timeout_s=15)
        time.sleep(0.5)
        assert {agent for agent, _ in stored(db)} == {"box-02"}

"""The real agent process against a real Mosquitto: killed, starved of its broker, stopped."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path

import pytest

from protocol.codec import Decoder
from protocol.errors import ReplayError
from protocol.sequence import SeqTracker
from protocol.signing import Keyring
from protocol.topics import TopicLayout
from tests.agent_process import AgentProcess, agent_config
from tests.brokers import Mosquitto, mosquitto_binary
from tests.mqtt_helpers import Collector
from tests.waiting import wait_until

pytestmark = pytest.mark.skipif(
    mosquitto_binary() is None, reason="needs Debian's mosquitto (.ci/run installs it)"
)
KEY = "agent-key-" + "0" * 40
LAYOUT = TopicLayout()
FAST = {"timing": {"heartbeat_interval_s": 0.02, "stats_interval_s": 1.0}}  # ≥ 50 events/s of heartbeats


def everything(broker: Mosquitto) -> Collector:
    """A hub-like subscriber: events and stats of every agent of centre c1."""
    return (
        Collector(broker.host, broker.port)
        .subscribe(LAYOUT.events_filter("c1"))
        .subscribe(LAYOUT.stats_filter("c1"))
    )


def decode_all(messages: list[tuple[str, bytes, bool]]):
    decoder = Decoder(Keyring({"box-01": KEY.encode()}), lambda: int(time.time() * 1000), layout=LAYOUT)
    return [decoder.decode(p, t) for t, p, _ in messages if "/events/" in t or t.endswith("/stats")]


def hub_view(events) -> tuple[list[int], dict[int, str]]:
    """Seqs in arrival order after dedupe, and the id each seq carried (to catch reuse)."""
    tracker, order, ids = SeqTracker(), [], {}
    for event in events:
        assert ids.setdefault(event.seq, event.id) == event.id, f"seq {event.seq} reused for another event"
        try:
            tracker.admit(event.agent, event.seq)
        except ReplayError:
            continue
        order.append(event.seq)
    return order, ids


@pytest.fixture
def broker(tmp_path: Path):
    server = Mosquitto(tmp_path / "broker", mosquitto_binary() or "")
    server.workdir.mkdir()
    server.start()
    yield server
    server.stop()


def test_sigkill_and_restart_lose_and_reuse_no_seq(tmp_path: Path, broker: Mosquitto) -> None:
    watcher = everything(broker)
    agent = AgentProcess(agent_config(tmp_path, broker.port, key=KEY, **FAST), tmp_path / "agent.log")
    try:
        agent.start()
        assert wait_until(lambda: len(watcher.messages) >= 150, 30)
        agent.kill()
        agent.start()
        count = len(watcher.messages)
        assert wait_until(lambda: len(watcher.messages) >= count + 150, 30)
        agent.terminate()
        time.sleep(1)
        order, _ = hub_view(decode_all(watcher.messages))
        assert order == list(range(1, len(order) + 1)), "a seq is missing or out of order"
    finally:
        agent.stop()
        watcher.close()


def test_broker_down_sixty_seconds_under_fifty_events_per_second(tmp_path: Path, broker: Mosquitto) -> None:
    before = everything(broker)
    agent = AgentProcess(agent_config(tmp_path, broker.port, key=KEY, **FAST), tmp_path / "agent.log")
    try:
        agent.start()
        assert wait_until(lambda: len(before.messages) >= 100, 30)
        broker.stop()
        time.sleep(60)
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{agent.ops_port}/metrics").read().decode()
        depth = int(float(next(line.split()[-1] for line in metrics.splitlines()
                               if line.startswith("casewatch_outbox_depth "))))  # fmt: skip
        assert depth >= 50 * 60 * 0.8, depth  # what was produced during the outage waits in the outbox
        broker.start()
        after = everything(broker)
        assert wait_until(lambda: len(after.messages) >= depth, 90)
        agent.terminate()
        order, _ = hub_view(decode_all(before.messages + after.messages))
        assert order == list(range(1, len(order) + 1))
        assert len(order) >= 100 + depth
    finally:
        agent.stop()
        before.close()


def test_sigterm_flushes_says_offline_and_serves_metrics(tmp_path: Path, broker: Mosquitto) -> None:
    status = Collector(broker.host, broker.port).subscribe(LAYOUT.status_filter("c1"))
    events = everything(broker)
    agent = AgentProcess(
        agent_config(
            tmp_path, broker.port, key=KEY, timing={"heartbeat_interval_s": 0.5, "stats_interval_s": 1}
        ),
        tmp_path / "agent.log",
    )
    try:
        agent.start()
        assert wait_until(lambda: any(p == b"online" for _, p, _ in status.messages), 15)
        assert wait_until(lambda: len(events.messages) >= 3, 15)
        health = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{agent.ops_port}/healthz").read())
        assert health["mqtt_connected"] is True and health["status"] == "ok"
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{agent.ops_port}/metrics").read().decode()
        assert "# TYPE casewatch_outbox_depth gauge" in metrics and "casewatch_mqtt_connected 1" in metrics
        assert agent.terminate() == 0
        assert status.messages[-1][1] == b"offline"
        stats = [e for e in decode_all(events.messages) if e.kind == "agent.stats"]
        assert stats and stats[-1].data.outbox_depth >= 0  # type: ignore[attr-defined]
        log = (tmp_path / "agent.log").read_text()
        assert all(json.loads(line)["level"] for line in log.splitlines() if line.startswith("{"))
    finally:
        agent.stop()
        status.close()
        events.close()


def test_refused_credentials_keep_events_logged_and_retried(tmp_path: Path) -> None:
    import subprocess

    passwords = tmp_path / "passwd"
    passwords.touch()
    subprocess.run(["mosquitto_passwd", "-b", str(passwords), "box-01", "right"], check=True)
    (tmp_path / "broker").mkdir()
    broker = Mosquitto(tmp_path / "broker", mosquitto_binary() or "", auth_file=passwords).start()
    config = agent_config(
        tmp_path, broker.port, key=KEY, timing={"heartbeat_interval_s": 0.1, "stats_interval_s": 1},
        mqtt={"host": "127.0.0.1", "port": broker.port, "username": "box-01", "password": "wrong"},
    )  # fmt: skip
    agent = AgentProcess(config, tmp_path / "agent.log")
    try:
        agent.start()

        def metric(name: str) -> float:
            text = urllib.request.urlopen(f"http://127.0.0.1:{agent.ops_port}/metrics").read().decode()
            return float(next(line.split()[-1] for line in text.splitlines() if line.startswith(name + " ")))

        assert wait_until(lambda: metric("casewatch_mqtt_refusals_total") >= 2, 20)
        assert wait_until(lambda: metric("casewatch_outbox_depth") >= 10, 10)  # events keep piling up, kept
        assert metric("casewatch_mqtt_connected") == 0
        log = (tmp_path / "agent.log").read_text()
        assert "refused the connection" in log and "authori" in log.lower()
    finally:
        agent.stop()
        broker.stop()


def test_events_wait_in_the_outbox_until_the_hub_says_online(tmp_path: Path, broker: Mosquitto) -> None:
    """``outbox.wait_for_hub``: nothing is published before the hub's retained ``online``, the
    backlog goes when it comes, and publishing pauses at ``offline`` (the hub's will)."""
    hub = everything(broker)
    status = "casewatch/c1/hub/status"
    config = agent_config(
        tmp_path, broker.port, key=KEY, timing={"heartbeat_interval_s": 0.2, "stats_interval_s": 1},
        outbox={"wait_for_hub": True},
    )  # fmt: skip
    agent = AgentProcess(config, tmp_path / "agent.log")
    try:
        agent.start()
        time.sleep(3)
        assert hub.messages == []  # no hub: the events wait
        hub.publish(status, b"online", retain=True)
        assert wait_until(lambda: len(hub.messages) >= 10, 10)
        backlog = decode_all(hub.messages)
        assert [e.seq for e in backlog][:10] == list(range(1, 11))  # from the first, in order
        hub.publish(status, b"offline", retain=True)
        time.sleep(1)
        paused_at = len(hub.messages)
        time.sleep(2)
        assert len(hub.messages) <= paused_at + 2  # at most what was in flight
        hub.publish(status, b"online", retain=True)
        assert wait_until(lambda: len(hub.messages) > paused_at + 8, 10)
        agent.terminate()
    finally:
        agent.stop()
    seqs, _ids = hub_view(decode_all(hub.messages))
    assert seqs == list(range(1, len(seqs) + 1))  # nothing skipped across the pause


def test_health_is_not_ok_until_every_configured_device_has_reported(tmp_path: Path) -> None:
    """Before the receiver is opened (or when it never opens) /healthz must not say ok."""
    from agent.config import AgentConfig
    from agent.reporting import health
    from agent.runtime import Agent
    from foundation.configfile import load_config

    config = agent_config(
        tmp_path, 1, key=KEY,
        devices=[{"id": "wb-rx-1", "driver": "wristband-rs485", "port": str(tmp_path / "no-such-port"),
                  "options": {"anchors": {"10": {"room": "int-1"}}}}],
    )  # fmt: skip
    agent = Agent(load_config(config, AgentConfig))
    report = health(agent)
    assert report["devices"] == {"wb-rx-1": "starting"} and report["status"] == "degraded"

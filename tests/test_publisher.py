"""Outbox -> broker with a real Mosquitto: outages lose nothing, order holds, refusals are retried."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from agent.emitter import Draft, Emitter
from agent.outbox import Outbox
from agent.publisher import Publisher
from foundation.mqtt_link import MqttLink
from foundation.settings import MqttSettings
from hub.embedded_broker import EmbeddedBroker, free_port
from protocol.clock import ManualClock
from protocol.errors import ReplayError
from protocol.sequence import SeqTracker
from tests.brokers import Mosquitto, mosquitto_binary
from tests.mqtt_helpers import Collector
from tests.protocol_helpers import KEY_A, LAYOUT, NOW, decoder
from tests.waiting import wait_until

pytestmark = pytest.mark.skipif(
    mosquitto_binary() is None, reason="needs Debian's mosquitto (.ci/run installs it)"
)


def agent_parts(tmp_path: Path, settings: MqttSettings):
    outbox = Outbox(tmp_path / "outbox.db")
    link = MqttLink(settings, "box-01", LAYOUT.status("c1", "box-01"))
    publisher = Publisher(outbox, link)
    emitter = Emitter(outbox, key=KEY_A, center="c1", agent="box-01", layout=LAYOUT, clock=ManualClock(NOW),
                      on_stored=publisher.notify)  # fmt: skip
    return outbox, link, publisher, emitter


def vitals(i: int) -> Draft:
    return Draft("band.vitals", "wb-rx-1", {"band": "B0042"}, {"heart_rate": 60 + i % 50}, NOW)


def admitted_in_order(messages: list[tuple[str, bytes, bool]]) -> list[int]:
    """What the hub would keep: verified events, duplicates dropped, in arrival order."""
    verify, tracker, kept = decoder(), SeqTracker(), []
    for topic, payload, _ in messages:
        if topic.endswith("/status"):
            continue
        event = verify.decode(payload, topic)
        try:
            tracker.admit(event.agent, event.seq)
        except ReplayError:
            continue
        kept.append(event.seq)
    return kept


def test_broker_outage_loses_nothing_and_keeps_order(tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path, mosquitto_binary() or "").start()
    outbox, link, publisher, emitter = agent_parts(tmp_path, MqttSettings(host=broker.host, port=broker.port))
    link.start()
    publisher.start()
    try:
        assert link.connected.wait(10)
        watcher = Collector(broker.host, broker.port).subscribe(LAYOUT.events_filter("c1"))
        for i in range(100):
            emitter.emit(vitals(i))
        assert wait_until(lambda: outbox.depth() == 0, 10)
        broker.stop()
        assert wait_until(lambda: not link.connected.is_set(), 10)
        for i in range(100, 400):  # 300 events while the broker is down
            emitter.emit(vitals(i))
            time.sleep(0.005)
        assert outbox.depth() == 300
        broker.start()
        late = Collector(broker.host, broker.port).subscribe(LAYOUT.events_filter("c1"))
        assert wait_until(lambda: outbox.depth() == 0, 30)
        assert wait_until(lambda: len(late.messages) >= 300, 10)
        assert admitted_in_order(watcher.messages) == list(range(1, 101))
        assert admitted_in_order(late.messages) == list(range(101, 401))
        watcher.close()
        late.close()
    finally:
        publisher.stop()
        link.stop()
        broker.stop()


def test_status_is_retained_online_and_offline_by_will(tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path, mosquitto_binary() or "").start()
    _, link, _, _ = agent_parts(tmp_path, MqttSettings(host=broker.host, port=broker.port))
    link.start()
    assert link.connected.wait(10)
    live = Collector(broker.host, broker.port).subscribe(LAYOUT.status_filter("c1"))
    assert wait_until(lambda: any(m[1] == b"online" for m in live.messages), 5)
    later = Collector(broker.host, broker.port).subscribe(LAYOUT.status_filter("c1"))
    assert later.wait_for(1)[0] == ("casewatch/c1/box-01/status", b"online", True)  # retained
    link.stop()  # a clean stop says offline itself
    assert wait_until(lambda: live.messages[-1][1] == b"offline", 5)
    # an agent that dies without a word: the broker publishes its will
    _, dying, _, _ = agent_parts(
        tmp_path / "2", MqttSettings(host=broker.host, port=broker.port, keepalive_s=5)
    )
    dying.client_id, dying.status_topic = "box-02", LAYOUT.status("c1", "box-02")
    dying.start()
    assert dying.connected.wait(10)
    assert wait_until(lambda: ("casewatch/c1/box-02/status", b"online", False) in live.messages, 5)
    assert dying._client is not None
    dying._client.socket().close()  # connection lost without DISCONNECT
    dying._client.loop_stop()
    assert wait_until(lambda: live.messages[-1] == ("casewatch/c1/box-02/status", b"offline", False), 20)
    live.close()
    later.close()
    broker.stop()


def test_refused_credentials_keep_events_and_retry(tmp_path: Path) -> None:
    passwords = tmp_path / "passwd"
    passwords.touch()
    subprocess.run(["mosquitto_passwd", "-b", str(passwords), "box-01", "right"], check=True)
    broker = Mosquitto(tmp_path, mosquitto_binary() or "", auth_file=passwords).start()
    settings = MqttSettings(host=broker.host, port=broker.port, username="box-01", password="wrong")
    outbox, link, publisher, emitter = agent_parts(tmp_path, settings)
    for i in range(20):
        emitter.emit(vitals(i))
    link.start()
    publisher.start()
    try:
        assert wait_until(lambda: link.stats.refusals >= 2, 15)  # retried, with backoff
        assert "authori" in (link.stats.last_refusal or "").lower()
        assert outbox.depth() == 20 and not link.connected.is_set()
    finally:
        publisher.stop()
        link.stop()
        broker.stop()


def test_auto_protocol_falls_back_to_311_on_the_embedded_broker(tmp_path: Path) -> None:
    with EmbeddedBroker() as broker:
        outbox, link, publisher, emitter = agent_parts(
            tmp_path, MqttSettings(host=broker.host, port=broker.port)
        )
        link.start()
        publisher.start()
        try:
            assert wait_until(lambda: link.connected.is_set(), 15)
            assert link.stats.protocol == "3.1.1"
            sub = Collector(broker.host, broker.port).subscribe(LAYOUT.events_filter("c1"))
            for i in range(10):
                emitter.emit(vitals(i))
            assert wait_until(lambda: outbox.depth() == 0, 10)
            assert admitted_in_order(sub.wait_for(10)) == list(range(1, 11))
            sub.close()
        finally:
            publisher.stop()
            link.stop()


def test_auto_protocol_falls_back_when_the_broker_comes_up_after_the_agent(tmp_path: Path) -> None:
    """Issue 15 finding 7: started while its broker is down, the agent sat on v5 forever."""
    port = free_port()
    outbox, link, publisher, emitter = agent_parts(tmp_path, MqttSettings(host="127.0.0.1", port=port))
    link.v5_grace_s = 1.0
    link.start()
    publisher.start()
    try:
        for i in range(5):
            emitter.emit(vitals(i))
        time.sleep(2.5)  # several refused TCP attempts with v5
        with EmbeddedBroker(port=port) as broker:  # a 3.1.1-only broker appears on that port
            sub = Collector(broker.host, broker.port).subscribe(LAYOUT.events_filter("c1"))
            assert wait_until(lambda: link.connected.is_set(), 40), "never connected"
            assert link.stats.protocol == "3.1.1"
            assert wait_until(lambda: outbox.depth() == 0, 15)
            assert admitted_in_order(sub.wait_for(5)) == [1, 2, 3, 4, 5]
            sub.close()
    finally:
        publisher.stop()
        link.stop()


def test_with_receipts_a_puback_deletes_nothing_and_a_receipt_deletes_up_to_it(tmp_path: Path) -> None:
    """The outbox forgets an event only when the hub says it is stored (not on the broker's PUBACK)."""
    (tmp_path / "broker").mkdir()
    broker = Mosquitto(tmp_path / "broker", mosquitto_binary() or "").start()
    try:
        outbox = Outbox(tmp_path / "outbox.db")
        link = MqttLink(MqttSettings(host=broker.host, port=broker.port), "box-01", None)
        publisher = Publisher(outbox, link, receipts=True)
        emitter = Emitter(outbox, key=KEY_A, center="c1", agent="box-01", layout=LAYOUT,
                          clock=ManualClock(NOW), on_stored=publisher.notify)  # fmt: skip
        sub = Collector(broker.host, broker.port).subscribe(LAYOUT.events_filter("c1"))
        link.start()
        publisher.start()
        try:
            assert wait_until(lambda: link.connected.is_set(), 15)
            for i in range(20):
                emitter.emit(vitals(i))
            assert len(sub.wait_for(20)) >= 20 and wait_until(lambda: publisher.acked >= 20, 10)
            time.sleep(0.5)
            assert outbox.depth() == 20  # every one acknowledged by the broker, none forgotten
            publisher.on_receipt(12)
            assert wait_until(lambda: outbox.depth() == 8, 5)
            assert [p.seq for p in outbox.pending()] == list(range(13, 21))
            # a reconnect publishes again only what is not confirmed
            sub.messages.clear()
            broker.stop()
            assert wait_until(lambda: not link.connected.is_set(), 10)
            broker.start()
            sub2 = Collector(broker.host, broker.port).subscribe(LAYOUT.events_filter("c1"))
            assert wait_until(lambda: link.connected.is_set(), 20)
            emitter.emit(vitals(99))
            seqs = admitted_in_order(sub2.wait_for(9, timeout_s=15))
            assert seqs == list(range(13, 22))
            sub2.close()
        finally:
            publisher.stop()
            link.stop()
            sub.close()
    finally:
        broker.stop()

"""The brokers tests and the single-centre hub rely on: our own Mosquitto, and embedded amqtt."""

from __future__ import annotations

import socket
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from hub.embedded_broker import BrokerError, EmbeddedBroker
from protocol.codec import encode
from tests.brokers import Mosquitto, mosquitto_binary
from tests.mqtt_helpers import Collector
from tests.protocol_helpers import LAYOUT, decoder, example


def round_trip(host: str, port: int, protocol: int) -> None:
    events = [example("occupancy", seq=seq) for seq in range(1, 21)]
    sub = Collector(host, port, protocol=protocol).subscribe(LAYOUT.events_filter("c1"))
    pub = Collector(host, port, protocol=protocol)
    try:
        for event in events:
            pub.publish(LAYOUT.topic_for(event), encode(event))
        received = sub.wait_for(len(events))
        verify = decoder()
        assert [verify.decode(payload, topic) for topic, payload, _ in received] == events
    finally:
        pub.close()
        sub.close()


def test_session_broker_carries_signed_events(mqtt_broker) -> None:
    assert mqtt_broker.port != 1883  # never the machine's own broker
    round_trip(mqtt_broker.host, mqtt_broker.port, mqtt.MQTTv311)
    if mqtt_broker.speaks_v5:
        round_trip(mqtt_broker.host, mqtt_broker.port, mqtt.MQTTv5)


def test_embedded_broker_speaks_311_and_refuses_v5() -> None:
    with EmbeddedBroker() as broker:
        round_trip(broker.host, broker.port, mqtt.MQTTv311)
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        refused = False
        try:
            refused = client.connect(broker.host, broker.port) != 0
            client.loop(timeout=2.0)
            client.loop(timeout=1.0)
            refused = refused or not client.is_connected()
        except (OSError, ValueError):
            refused = True
        assert refused


def test_embedded_broker_keeps_retained_messages() -> None:
    with EmbeddedBroker() as broker:
        pub = Collector(broker.host, broker.port)
        pub.publish(LAYOUT.status("c1", "box-01"), b"online", retain=True)
        sub = Collector(broker.host, broker.port).subscribe(LAYOUT.status_filter("c1"))
        assert sub.wait_for(1)[0] == ("casewatch/c1/box-01/status", b"online", True)
        pub.close()
        sub.close()


def test_embedded_broker_on_a_taken_port_fails_clearly() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(BrokerError, match=f"127.0.0.1:{port}"):
            EmbeddedBroker("127.0.0.1", port).start()


@pytest.mark.skipif(
    mosquitto_binary() is None, reason="Debian package mosquitto not installed (.ci/run installs it)"
)
def test_own_mosquitto_can_be_stopped_and_restarted_on_its_port(tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path, mosquitto_binary() or "").start()
    port = broker.port
    broker.stop()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
    broker.start()
    assert broker.port == port
    round_trip(broker.host, broker.port, mqtt.MQTTv5)
    broker.stop()

"""Outbox throughput through a real Mosquitto: durable commit -> publish -> PUBACK -> delete.

(1) ``publish_eps``: events/s sustained end to end — signed, committed to the SQLite outbox,
    published with QoS 1, acknowledged and deleted — while a subscriber receives them; the
    baseline in the same run is a bare paho QoS 1 publisher with no outbox.
(2) ``drain_s_100k``: with the broker stopped, 100,000 events are queued; then the broker starts
    and the time until the outbox is empty (all acknowledged) is measured.
Needs Debian's mosquitto. Usage: python bench/outbox.py [--events 20000] [--backlog 100000]
Last line: {"publish_eps": ..., "bare_qos1_eps": ..., "drain_s_100k": ..., ...}
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import paho.mqtt.client as mqtt  # noqa: E402

from agent.emitter import Draft, Emitter  # noqa: E402
from agent.outbox import Outbox  # noqa: E402
from agent.publisher import Publisher  # noqa: E402
from foundation.mqtt_link import MqttLink  # noqa: E402
from foundation.settings import MqttSettings  # noqa: E402
from protocol.clock import SystemClock  # noqa: E402
from protocol.topics import TopicLayout  # noqa: E402
from tests.brokers import Mosquitto, mosquitto_binary  # noqa: E402

LAYOUT = TopicLayout()


class Counter:
    def __init__(self, host: str, port: int) -> None:
        self.count = 0
        self.lock = threading.Lock()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        self.client.on_message = self._on_message
        self.client.connect(host, port)
        self.client.subscribe("casewatch/#", qos=1)
        self.client.loop_start()
        time.sleep(0.3)

    def _on_message(self, *_args: object) -> None:
        with self.lock:
            self.count += 1

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def drafts(n: int, clock: SystemClock) -> list[Draft]:
    now = clock.now_ms()
    return [
        Draft(
            "band.vitals", "wb-rx-1", {"band": f"B{i % 50:04d}"}, {"heart_rate": 60 + i % 60, "spo2": 97}, now
        )
        for i in range(n)
    ]


def wait(predicate, timeout_s: float) -> float:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    while not predicate():
        if time.perf_counter() - started > timeout_s:
            raise TimeoutError("benchmark step did not finish")
        time.sleep(0.002)
    return time.perf_counter() - started


def bare_qos1(host: str, port: int, n: int, payload: bytes) -> float:
    acked = threading.Event()
    done = [0]

    def on_publish(*_a: object) -> None:
        done[0] += 1
        if done[0] == n:
            acked.set()

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.max_inflight_messages_set(1000)
    client.on_publish = on_publish
    client.connect(host, port)
    client.loop_start()
    started = time.perf_counter()
    for _ in range(n):
        client.publish("bench/bare", payload, qos=1)
    acked.wait(120)
    elapsed = time.perf_counter() - started
    client.loop_stop()
    client.disconnect()
    return n / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--backlog", type=int, default=100_000)
    args = parser.parse_args()
    binary = mosquitto_binary()
    if binary is None:
        sys.exit("bench/outbox.py needs Debian's mosquitto")
    clock = SystemClock()
    with tempfile.TemporaryDirectory() as tmp:
        broker = Mosquitto(Path(tmp), binary).start()
        counter = Counter(broker.host, broker.port)
        outbox = Outbox(Path(tmp) / "outbox.db")
        settings = MqttSettings(host=broker.host, port=broker.port)
        link = MqttLink(settings, "bench-agent", LAYOUT.status("c1", "box-01"))
        publisher = Publisher(outbox, link)
        emitter = Emitter(outbox, key=b"k" * 32, center="c1", agent="box-01", layout=LAYOUT, clock=clock,
                          on_stored=publisher.notify)  # fmt: skip
        link.start()
        publisher.start()
        link.connected.wait(10)

        # (1) sustained: produce in commits of 100 (one camera/device burst), as fast as possible
        batches = drafts(args.events, clock)
        started = time.perf_counter()
        for i in range(0, len(batches), 100):
            emitter.emit_many(batches[i : i + 100])
        wait(lambda: outbox.depth() == 0, 300)
        publish_eps = args.events / (time.perf_counter() - started)
        wait(lambda: counter.count >= args.events, 60)  # the subscriber saw every one
        received = counter.count
        print(f"(1) outbox end to end: {publish_eps:,.0f} events/s ({received} received)", flush=True)
        bare = bare_qos1(broker.host, broker.port, args.events, b"x" * 300)
        print(f"    bare paho QoS 1:   {bare:,.0f} messages/s (baseline, no outbox)", flush=True)

        # (2) outage: broker down, backlog queued, broker back, drain
        broker.stop()
        wait(lambda: not link.connected.is_set(), 30)
        started = time.perf_counter()
        backlog = drafts(args.backlog, clock)
        for i in range(0, len(backlog), 500):
            emitter.emit_many(backlog[i : i + 500])
        queue_s = time.perf_counter() - started
        print(f"(2) queued {outbox.depth():,} events during the outage in {queue_s:.1f} s", flush=True)
        broker.start()
        counter.close()
        counter = Counter(broker.host, broker.port)
        started = time.perf_counter()
        drain_s = wait(lambda: outbox.depth() == 0, 600)
        print(f"    drained after the broker returned in {drain_s:.1f} s", flush=True)
        publisher.stop()
        link.stop()
        counter.close()
        broker.stop()
        outbox.close()
    print(json.dumps({
        "publish_eps": round(publish_eps), "bare_qos1_eps": round(bare), "drain_s_100k": round(drain_s, 1),
        "backlog": args.backlog, "queue_eps_during_outage": round(args.backlog / queue_s),
    }))  # fmt: skip


if __name__ == "__main__":
    main()

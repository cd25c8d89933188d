"""The hub process under load and abuse: SIGKILLs, forged and malformed payloads, an edited store."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

from protocol.ids import uuid7
from tests.agent_process import CASEWATCH
from tests.hub_helpers import AgentFeed, hub_config
from tests.hub_process import HubProcess

HOLD_30S = """
rules:
  - id: T-HOLD30
    title: 测试保持三十秒
    basis: 《测试规定》第1条
    shape: hold
    key: [data.condition_id]
    start: {kind: condition.start, where: {data.condition: unattended}}
    stop: {kind: condition.end, where: {data.condition: unattended}}
    levels: [{level: yellow, after: 30s}]
"""


class Pacer:
    """Publishes prepared messages at a steady rate with QoS 1; counts broker acknowledgements."""

    def __init__(self, broker: Any, messages: list[tuple[str, bytes]], rate: float) -> None:
        self.messages, self.rate = messages, rate
        self.acked = 0
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
        self.client.max_inflight_messages_set(1000)
        self.client.on_publish = self._on_publish
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _on_publish(self, *_args: Any) -> None:
        self.acked += 1

    def _run(self) -> None:
        started = time.monotonic()
        for i, (topic, payload) in enumerate(self.messages):
            ahead = started + i / self.rate - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)
            self.client.publish(topic, payload, qos=1)

    def finish(self, timeout_s: float = 60) -> None:
        self.thread.join(timeout_s)
        deadline = time.monotonic() + timeout_s
        while self.acked < len(self.messages) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert self.acked == len(self.messages), f"broker acked {self.acked} of {len(self.messages)}"


def rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


def wait_rows(db: Path, sql: str, expected: int, timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    found = -1
    while time.monotonic() < deadline:
        try:
            found = rows(db, sql)[0][0]
        except sqlite3.Error:
            found = -1
        if found == expected:
            return
        time.sleep(0.2)
    raise AssertionError(f"{sql}: {found}, expected {expected}")


def test_five_sigkills_under_2000_events_per_second_lose_nothing(tmp_path: Path, mqtt_broker: Any) -> None:
    feed = AgentFeed()
    (tmp_path / "rules.yaml").write_text(HOLD_30S)
    config = hub_config(
        tmp_path,
        mqtt_broker.port,
        agent_key=feed.key_text,
        rules=["rules.yaml"],
        mqtt={"host": "127.0.0.1", "port": mqtt_broker.port, "keepalive_s": 5, "client_id": "hub-sigkill"},
    )
    db = tmp_path / "hub.db"
    hub = HubProcess(config, tmp_path / "hub.log").start()
    now = int(time.time() * 1000)
    # the hold starts first: its 30 s level falls due while the hub is being killed
    cid = uuid7(now)
    start = feed.event(
        "condition.start",
        now,
        {"room": "wait-1"},
        {
            "condition": "unattended",
            "condition_id": cid,
            "facts": {"persons": 1, "detainees": 1, "officers": 0},
        },
    )
    traffic = [feed.message(start)]
    traffic += [
        feed.message(
            feed.event("band.vitals", now + i, {"band": f"B{i % 50:04d}"}, {"heart_rate": 60 + i % 40})
        )
        for i in range(20_000)
    ]
    pacer = Pacer(mqtt_broker, traffic, rate=2000)
    pacer.thread.start()
    for _ in range(5):
        time.sleep(1.5)
        hub.kill()
        time.sleep(0.3)
        hub.start()
    pacer.finish()
    wait_rows(db, "SELECT count(*) FROM events WHERE agent = 'box-01'", len(traffic))
    assert rows(db, "SELECT count(*), count(DISTINCT seq) FROM events WHERE agent = 'box-01'")[0] == (
        len(traffic),
        len(traffic),
    )
    # the 30 s hold fires once, dated 30 s after the start, whatever the kills
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not rows(db, "SELECT count(*) FROM alerts")[0][0]:
        time.sleep(0.5)
    (doc,) = [json.loads(d) for (d,) in rows(db, "SELECT doc FROM alerts")]
    assert doc["rule"] == "T-HOLD30" and doc["opened_ms"] == now + 30_000
    raised = rows(db, "SELECT count(*) FROM alert_log WHERE action = 'raise'")[0][0]
    assert raised == 1
    assert hub.stop() == 0
    done = __import__("subprocess").run(
        [CASEWATCH, "hub", "verify", "--config", str(config)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert f"{len(traffic)} events" in done.stdout


def test_ten_thousand_bad_payloads_among_real_traffic(tmp_path: Path, mqtt_broker: Any) -> None:
    feed = AgentFeed()
    forger = AgentFeed(agent="box-01")  # right name, wrong key
    config = hub_config(
        tmp_path,
        mqtt_broker.port,
        agent_key=feed.key_text,
        rules=[],
        mqtt={"host": "127.0.0.1", "port": mqtt_broker.port, "keepalive_s": 5, "client_id": "hub-abuse"},
    )
    db = tmp_path / "hub.db"
    hub = HubProcess(config, tmp_path / "hub.log").start()
    now = int(time.time() * 1000)
    good = [
        feed.message(feed.event("band.vitals", now + i, {"band": "B1"}, {"heart_rate": 70}))
        for i in range(3000)
    ]
    topic = good[0][0]
    kinds = {
        "malformed": [(topic, b'{"v": 1, "seq": ' + str(i).encode()) for i in range(2500)],
        "encoding": [(topic, b"\xc3\x28" * (i % 7 + 1)) for i in range(2500)],
        "signature": [
            forger.message(forger.event("band.vitals", now, {"band": "B9"}, {"heart_rate": 1}))
            for _ in range(2500)
        ],
        "schema": [
            (topic, json.dumps({"v": 1, "kind": "band.vitals", "seq": i}).encode()) for i in range(2500)
        ],
    }
    bad = [m for batch in kinds.values() for m in batch]
    mixed: list[tuple[str, bytes]] = []
    for i in range(max(len(good), len(bad))):
        mixed += good[i : i + 1] + bad[i * 4 // 1 : i * 4 + 4] if i * 4 < len(bad) else good[i : i + 1]
    assert len(mixed) == len(good) + len(bad)
    pacer = Pacer(mqtt_broker, mixed, rate=5000)
    pacer.thread.start()
    pacer.finish()
    wait_rows(db, "SELECT count(*) FROM events WHERE agent = 'box-01'", len(good))
    wait_rows(db, "SELECT count(*) FROM quarantine", len(bad))
    counts = dict(rows(db, "SELECT code, count(*) FROM quarantine GROUP BY code"))
    assert counts == {code: len(batch) for code, batch in kinds.items()}
    assert hub.proc is not None and hub.proc.poll() is None, "the hub kept serving"
    assert hub.stop() == 0

"""The hub in-process on a real broker: ingest, quarantine, dedupe, rules, alerts, registry."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from hub.service import HubService
from protocol.errors import SignatureError
from protocol.ids import uuid7
from protocol.registry import decode_registration, registry_key
from protocol.signing import Keyring
from tests.hub_helpers import AGENT, CENTER, AgentFeed, running_hub
from tests.mqtt_helpers import Collector
from tests.waiting import wait_until

RULE = """
rules:
  - id: T-TWO
    title: 测试少于二人
    basis: 《刑事诉讼法》第118条
    shape: hold
    key: [data.condition_id]
    start: {kind: condition.start, where: {data.condition: understaffed, room_type: interrogation}}
    stop: {kind: condition.end, where: {data.condition: understaffed}}
    levels: [{level: yellow, after: 1s}, {level: orange, after: 2s}]
"""


def publisher(broker: Any) -> mqtt.Client:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
    client.connect(broker.host, broker.port)
    client.loop_start()
    return client


@pytest.fixture
def hub(
    tmp_path: Path, mqtt_broker: Any, store_section: dict[str, str]
) -> Iterator[tuple[HubService, AgentFeed]]:
    """On each store backend: ingest, rules and alerts are the same on SQLite and PostgreSQL."""
    feed = AgentFeed()
    (tmp_path / "rules.yaml").write_text(RULE)
    service = running_hub(tmp_path, mqtt_broker.port, feed, ["rules.yaml"], store=store_section)
    yield service, feed
    service.stop()


def understaffed(feed: AgentFeed, kind: str, ts: int, cid: str) -> tuple[str, bytes]:
    data: dict[str, Any] = {"condition": "understaffed", "condition_id": cid}
    if kind == "condition.start":
        data["facts"] = {"persons": 2, "detainees": 1, "officers": 1, "required_officers": 2}
    else:
        data.update(started=ts - 3000, duration_ms=3000)
    return feed.message(feed.event(kind, ts, {"room": "int-1"}, data))


def test_events_are_stored_judged_and_alerts_published_retained(hub: Any, mqtt_broker: Any) -> None:
    service, feed = hub
    alerts = Collector(mqtt_broker.host, mqtt_broker.port).subscribe(f"casewatch/{CENTER}/alerts/#")
    pub = publisher(mqtt_broker)
    now = int(time.time() * 1000)
    cid = uuid7(now)
    topic, payload = understaffed(feed, "condition.start", now, cid)
    pub.publish(topic, payload, qos=1).wait_for_publish(5)
    wait_until(lambda: service.store.count() == 1, timeout_s=10)
    # the hold: yellow after 1 s, orange after 2 s, published retained as the alert changes
    # (other tests share the broker: their retained alerts are not ours)
    # (an earlier test's retained T-TWO comes with the retain flag: not ours either)
    live = lambda: [json.loads(p) for _t, p, retained in alerts.messages if not retained]  # noqa: E731
    wait_until(lambda: len([d for d in live() if d["rule"] == "T-TWO"]) >= 2, 10)
    docs = [d for d in live() if d["rule"] == "T-TWO"]
    assert [d["level"] for d in docs[:2]] == ["yellow", "orange"]
    assert docs[0]["title"] == "测试少于二人" and docs[0]["level_zh"] == "黄"
    assert docs[0]["context"]["room"] == "int-1" and docs[0]["context"]["room_type"] == "interrogation"
    topic, payload = understaffed(feed, "condition.end", now + 2500, cid)
    pub.publish(topic, payload, qos=1).wait_for_publish(5)
    ours = lambda: [d for d in live() if d["rule"] == "T-TWO"]  # noqa: E731
    wait_until(lambda: any(not d["active"] for d in ours()), timeout_s=10)
    last = ours()[-1]
    assert last["state"] == "open" and last["cleared_ms"] == now + 2500  # orange: a ticket stays open
    # a late subscriber gets the current state (retained)
    late = Collector(mqtt_broker.host, mqtt_broker.port).subscribe(f"casewatch/{CENTER}/alerts/#")
    late.wait_for(1)
    time.sleep(0.3)
    (msg,) = [m for m in late.messages if json.loads(m[1])["id"] == docs[0]["id"]]
    assert msg[2] and json.loads(msg[1])["level"] == "orange"
    history = service.derived.history(docs[0]["id"])
    assert [t.action for t in history] == ["raise", "level", "clear"]


def test_bad_payloads_are_quarantined_with_reasons_and_duplicates_dropped(hub: Any, mqtt_broker: Any) -> None:
    service, feed = hub
    pub = publisher(mqtt_broker)
    now = int(time.time() * 1000)
    topic, good = understaffed(feed, "condition.start", now, uuid7(now))
    forged = json.loads(good)
    forged["data"]["facts"]["officers"] = 2  # changed after signing
    bad = [
        (topic, b"\xff\xfe not utf-8"),
        (topic, b"{not json"),
        (topic, json.dumps(forged).encode()),
        (f"casewatch/{CENTER}/{AGENT}/events/band/tamper", good),  # wrong topic for its kind
    ]
    for t, p in [*bad, (topic, good), (topic, good)]:
        pub.publish(t, p, qos=1).wait_for_publish(5)
    wait_until(lambda: sum(service.store.quarantine_counts().values()) == 4, timeout_s=10)
    assert service.store.quarantine_counts() == {"encoding": 1, "malformed": 1, "signature": 1, "topic": 1}
    wait_until(lambda: service.admission.duplicates == 1, timeout_s=5)
    assert service.store.count() == 1
    rows = service.store.quarantine_rows()
    assert any(r["raw"] == b"{not json" and "JSON" in r["reason"] for r in rows)


def test_a_seq_gap_is_logged_and_raises_a_data_loss_record(hub: Any, mqtt_broker: Any) -> None:
    service, feed = hub
    pub = publisher(mqtt_broker)
    now = int(time.time() * 1000)
    first = feed.event("band.battery", now, {"band": "B1"}, {"percent": 80})
    for _ in range(3):  # seq 2..4 never published
        feed.event("band.battery", now, {"band": "B1"}, {"percent": 79})
    fifth = feed.event("band.battery", now, {"band": "B1"}, {"percent": 78})
    for event in (first, fifth):
        pub.publish(*feed.message(event), qos=1).wait_for_publish(5)
    wait_until(lambda: service.store.gaps(), timeout_s=10)
    (gap,) = service.store.gaps()
    assert (gap.agent, gap.first, gap.last) == (AGENT, 2, 4)
    kinds = [s.kind for s in service.store.read()]
    assert "ingest.gap" in kinds


def test_intake_and_band_binding_publish_a_signed_registration(hub: Any, mqtt_broker: Any) -> None:
    service, _feed = hub
    registry = Collector(mqtt_broker.host, mqtt_broker.port).subscribe(f"casewatch/{CENTER}/registry/bands/+")
    now = int(time.time() * 1000)
    service.record(
        "person.intake",
        {"person": "p1"},
        {
            "procedure": "summons",
            "arrived": now,
            "name": "张三",
            "sex": "male",
            "minor": True,
            "case": "K1",
        },
        by="demo",
        ts=now,
    )
    stored = service.record("band.bind", {"band": "B0042", "person": "p1"}, {"role": "detainee"}, by="demo")
    assert stored.agent == "hub" and stored.kind == "band.bind"

    def live() -> list[tuple[str, bytes, bool]]:  # other tests' retained registrations excluded
        return [m for m in registry.messages if not m[2]]

    assert wait_until(lambda: len(live()) == 1, timeout_s=10)
    (message,) = live()
    with pytest.raises(SignatureError):  # signed with the registry key, never the hub's own
        decode_registration(message[1], Keyring({"hub": service.hub_key}))
    reg = decode_registration(message[1], Keyring({"hub": registry_key(service.hub_key)}))
    assert reg is not None and reg.role == "detainee" and reg.case == "K1" and reg.flags.minor
    assert "张三" not in message[1].decode()  # names stay in the hub
    service.record("person.release", {"person": "p1"}, {"reason": "done"}, by="demo")
    wait_until(lambda: len(live()) == 2, timeout_s=5)
    assert live()[-1][1] == b""  # released: the band is unbound
    report = service.store.verify()
    assert report.ok and report.rows == 3

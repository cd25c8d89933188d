"""``casewatch hub verify`` and ``casewatch hub rebuild`` on real stores, as an operator runs them."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

from foundation.configfile import load_config
from hub.config import HubConfig
from hub.service import HubService
from hub.store import Batch, HubStore, Incoming
from protocol.canonical import canonical_bytes
from protocol.ids import uuid7
from protocol.signing import signed
from tests.agent_process import CASEWATCH
from tests.hub_helpers import AgentFeed, hub_config
from tests.waiting import wait_until


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CASEWATCH, *args], capture_output=True, text=True, timeout=120, check=False)


def test_verify_names_the_edited_row_of_a_100k_store(tmp_path: Path) -> None:
    feed = AgentFeed()
    config = hub_config(tmp_path, None, agent_key=feed.key_text)
    template = feed.event("band.vitals", 1_767_225_600_000, {"band": "B1"}, {"heart_rate": 70}).wire()

    def signed_event(seq: int) -> Incoming:
        doc = signed({**template, "seq": seq, "id": uuid7(1_767_225_600_000 + seq)}, feed.key)
        body = canonical_bytes(doc)
        return Incoming("box-01", seq, doc["id"], "band.vitals", doc["ts"], seq, body, band="B1")

    with HubStore(tmp_path / "hub.db", synchronous="NORMAL") as store:
        for start in range(1, 100_001, 5000):
            store.write(Batch(events=[signed_event(s) for s in range(start, start + 5000)]))
    done = run("hub", "verify", "--config", str(config))
    assert done.returncode == 0 and "100000 events" in done.stdout, done.stderr
    assert "100000 signatures" in done.stdout
    with sqlite3.connect(tmp_path / "hub.db") as conn:
        conn.execute("UPDATE events SET body = replace(body, 'heart_rate\":70', 'heart_rate\":71')"
                     " WHERE pos = 61803")  # fmt: skip
    done = run("hub", "--config", str(config), "verify")
    assert done.returncode == 1
    assert "61803" in done.stderr and "rows 1–61802 intact" in done.stderr


def test_rebuild_recomputes_alerts_from_the_log(tmp_path: Path, mqtt_broker: Any) -> None:
    feed = AgentFeed()
    (tmp_path / "rules.yaml").write_text(
        "rules:\n  - id: T-ALONE\n    title: 无人看管\n    basis: 《测试规定》第2条\n    shape: hold\n"
        "    key: [data.condition_id]\n"
        "    start: {kind: condition.start, where: {data.condition: unattended}}\n"
        "    stop: {kind: condition.end, where: {data.condition: unattended}}\n"
        "    levels: [{level: yellow, after: 1s}, {level: orange, after: 60s}]\n"
    )
    config = hub_config(
        tmp_path,
        mqtt_broker.port,
        agent_key=feed.key_text,
        rules=["rules.yaml"],
        mqtt={"host": "127.0.0.1", "port": mqtt_broker.port, "client_id": "hub-rebuild"},
    )
    cfg = load_config(config, HubConfig)
    service = HubService(cfg, tmp_path).start()
    assert service.ready.wait(15)
    now = int(time.time() * 1000)
    cid = uuid7(now)
    start = feed.event(
        "condition.start",
        now,
        {"room": "wait-1"},
        {"condition": "unattended", "condition_id": cid, "facts": {"detainees": 1, "officers": 0}},
    )
    end = feed.event(
        "condition.end",
        now + 1500,
        {"room": "wait-1"},
        {"condition": "unattended", "condition_id": cid, "started": now, "duration_ms": 1500},
    )
    import paho.mqtt.client as mqtt

    pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    pub.connect(mqtt_broker.host, mqtt_broker.port)
    pub.loop_start()
    pub.publish(*feed.message(start), qos=1).wait_for_publish(5)
    wait_until(lambda: service.derived.alerts(), timeout_s=10)
    pub.publish(*feed.message(end), qos=1).wait_for_publish(5)
    wait_until(lambda: service.derived.alerts()[0].state == "closed", timeout_s=10)
    (alert,) = service.derived.alerts()
    service.record("alert.action", {"alert": alert.id}, {"action": "comment", "comment": "已复核"}, by="demo")
    wait_until(lambda: len(service.derived.history(alert.id)) == 4, timeout_s=5)
    before = [(t.action, t.level, t.state, t.by) for t in service.derived.history(alert.id)]
    service.stop()
    with sqlite3.connect(tmp_path / "hub.db") as conn:
        conn.execute("DELETE FROM alerts")
        conn.execute("DELETE FROM alert_log")
    done = run("hub", "rebuild", "--config", str(config))
    assert done.returncode == 0, done.stderr
    assert "rebuilt" in done.stdout
    with sqlite3.connect(tmp_path / "hub.db") as conn:
        (doc,) = [json.loads(d) for (d,) in conn.execute("SELECT doc FROM alerts")]
        after = conn.execute("SELECT action, level, state, by FROM alert_log ORDER BY id").fetchall()
    assert doc["id"] == alert.id and doc["opened_ms"] == now + 1000 and doc["state"] == "closed"
    assert (
        after
        == before
        == [
            ("raise", "yellow", "open", "system"),
            ("clear", "yellow", "open", "system"),
            ("close", "yellow", "closed", "system"),
            ("comment", "yellow", "closed", "demo"),
        ]
    )

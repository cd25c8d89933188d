"""The hub on PostgreSQL end to end: events in over a real broker, `hub verify` and `hub rebuild`
from the command line, an edit made with plain SQL named by row, a restart that keeps timers."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

from foundation.configfile import load_config
from hub.config import HubConfig
from hub.service import HubService
from protocol.ids import uuid7
from tests.hub_helpers import AgentFeed, hub_config
from tests.pg_helpers import sql
from tests.waiting import wait_until

CASEWATCH = str(Path(sys.executable).parent / "casewatch")
RULES = (
    "rules:\n  - id: T-ALONE\n    title: 无人看管\n    basis: 《测试规定》第2条\n    shape: hold\n"
    "    key: [data.condition_id]\n"
    "    start: {kind: condition.start, where: {data.condition: unattended}}\n"
    "    stop: {kind: condition.end, where: {data.condition: unattended}}\n"
    "    levels: [{level: yellow, after: 1s}, {level: orange, after: 4s}]\n"
)


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CASEWATCH, *args], capture_output=True, text=True, timeout=120, check=False)


def unattended(feed: AgentFeed, kind: str, ts: int, cid: str) -> Any:
    data: dict[str, Any] = {"condition": "unattended", "condition_id": cid}
    if kind == "condition.start":
        data["facts"] = {"detainees": 1, "officers": 0}
    else:
        data |= {"started": ts - 1500, "duration_ms": 1500}
    return feed.event(kind, ts, {"room": "wait-1"}, data)


def start(tmp_path: Path, broker: Any, feed: AgentFeed, dsn: str) -> tuple[Path, HubService]:
    (tmp_path / "rules.yaml").write_text(RULES)
    store = {"backend": "postgresql", "dsn": dsn, "files": str(tmp_path / "files")}
    mqtt_cfg = {"host": "127.0.0.1", "port": broker.port, "client_id": f"hub-pg-{tmp_path.name}"}
    config = hub_config(tmp_path, broker.port, agent_key=feed.key_text, rules=["rules.yaml"], mqtt=mqtt_cfg,
                        store=store)  # fmt: skip
    service = HubService(load_config(config, HubConfig), tmp_path).start()
    assert service.ready.wait(15)
    return config, service


def test_verify_rebuild_and_restart_on_postgresql(tmp_path: Path, mqtt_broker: Any, pg_dsn: str) -> None:
    feed = AgentFeed()
    config, service = start(tmp_path, mqtt_broker, feed, pg_dsn)
    pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    pub.connect(mqtt_broker.host, mqtt_broker.port)
    pub.loop_start()
    now = int(time.time() * 1000)
    done, open_ = uuid7(now), uuid7(now + 1)
    pub.publish(*feed.message(unattended(feed, "condition.start", now, done)), qos=1).wait_for_publish(5)
    pub.publish(*feed.message(unattended(feed, "condition.start", now, open_)), qos=1).wait_for_publish(5)
    assert wait_until(lambda: len(service.derived.alerts()) == 2, timeout_s=10)
    pub.publish(*feed.message(unattended(feed, "condition.end", now + 1500, done)), qos=1).wait_for_publish(5)
    assert wait_until(lambda: any(a.state == "closed" for a in service.derived.alerts()), timeout_s=10)
    before = sorted((a.id, a.state, a.level) for a in service.derived.alerts())
    service.stop()  # the open one is yellow; orange is due at +4 s, while the hub is down
    time.sleep(max(0.0, (now + 4500 - time.time() * 1000) / 1000))

    again = HubService(load_config(config, HubConfig), tmp_path).start()  # a restart: the timer fires late
    assert again.ready.wait(15)
    assert wait_until(lambda: any(a.level == "orange" for a in again.derived.alerts()), timeout_s=10)
    orange = [a for a in again.derived.alerts() if a.level == "orange"]
    assert len(orange) == 1 and [t.action for t in again.derived.history(orange[0].id)].count("level") == 1
    rows = again.store.count()
    again.stop()
    pub.loop_stop()

    verified = run("hub", "verify", "--config", str(config))
    assert verified.returncode == 0 and f"{rows} events" in verified.stdout, verified.stderr
    sql(pg_dsn, "DELETE FROM alerts")
    sql(pg_dsn, "DELETE FROM alert_log")
    rebuilt = run("hub", "rebuild", "--config", str(config))
    assert rebuilt.returncode == 0 and "rebuilt" in rebuilt.stdout, rebuilt.stderr
    docs = [json.loads(str(d)) for (d,) in sql(pg_dsn, "SELECT doc FROM alerts")]
    after = sorted((d["id"], d["state"], d["level"]) for d in docs)
    assert [a[:2] for a in after] == [b[:2] for b in before] and {a[2] for a in after} == {"yellow", "orange"}
    # an edit with plain SQL is named by row
    sql(pg_dsn, "UPDATE events SET received_ms = received_ms + 1 WHERE pos = 2")
    broken = run("hub", "verify", "--config", str(config))
    assert broken.returncode == 1 and "row 2" in broken.stderr and "rows 1–1 intact" in broken.stderr

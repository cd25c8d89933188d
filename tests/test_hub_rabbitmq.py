"""A multi-centre hub on RabbitMQ's MQTT plugin (the broker a bureau may already run), its access
rules made by `casewatch hub acl --broker rabbitmq` and enforced by RabbitMQ itself.

Two worker processes on PostgreSQL share two centres; each agent logs in under its own name. What
must hold: every event is stored exactly once; a worker killed mid-stream hands its centre over
through RabbitMQ's persistent session; an agent cannot publish into another agent's topics.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
import yaml

from protocol.signing import new_key
from tests.hub_helpers import AgentFeed
from tests.pg_helpers import fresh_database, sql
from tests.rabbitmq_broker import RabbitMq
from tests.secret_files import write_secret
from tests.waiting import wait_until

CASEWATCH = str(Path(sys.executable).parent / "casewatch")
CENTRES = ("k1", "k2")
EVENTS = 60

pytestmark = pytest.mark.slow


@pytest.fixture
def rabbit(tmp_path: Path) -> Iterator[RabbitMq]:
    assert RabbitMq.available(), (
        "Debian's rabbitmq-server is needed (pre-installed on the project's machines)"
    )
    node = RabbitMq().start()
    yield node
    node.stop()


def agent_client(rabbit: RabbitMq, feed: AgentFeed, dropped: list[str]) -> mqtt.Client:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"casewatch-{feed.center}-{feed.agent}",
                         protocol=mqtt.MQTTv311, clean_session=False)  # fmt: skip
    client.username_pw_set(feed.agent, f"pw-{feed.agent}")
    client.on_disconnect = lambda *_a: dropped.append(feed.agent)
    client.connect(rabbit.host, rabbit.port)
    client.loop_start()
    return client


def test_two_workers_on_rabbitmq_store_everything_once_and_the_acl_holds(
    tmp_path: Path, rabbit: RabbitMq
) -> None:
    feeds = {c: AgentFeed(agent=f"box-{c}", center=c) for c in CENTRES}
    write_secret(tmp_path / "hub.key", new_key())
    write_secret(tmp_path / "mqtt.pass", "pw-hub")
    for feed in feeds.values():
        write_secret(tmp_path / f"{feed.agent}.key", feed.key_text)
    with fresh_database() as dsn:
        config = {
            "center": "county", "signing": {"key_file": "hub.key"}, "rules": [],
            "store": {"backend": "postgresql", "dsn": dsn, "files": str(tmp_path / "files")},
            "mqtt": {"host": rabbit.host, "port": rabbit.port, "protocol": "3.1.1",
                     "username": "casewatch-hub", "password_file": "mqtt.pass", "keepalive_s": 5},
            "workers": {"lease_s": 4}, "reports": {"scheduled": False},
            "centers": [{"id": c, "agents": [{"id": f.agent, "key_file": f"{f.agent}.key"}]}
                        for c, f in feeds.items()],
        }  # fmt: skip
        path = tmp_path / "hub.yaml"
        path.write_text(yaml.safe_dump(config))
        for user in ("casewatch-hub", *(f.agent for f in feeds.values())):
            rabbit.ctl("add_user", user, "pw-hub" if user == "casewatch-hub" else f"pw-{user}")
        script = tmp_path / "grant.sh"
        command = [
            CASEWATCH,
            "hub",
            "acl",
            "--config",
            str(path),
            "--broker",
            "rabbitmq",
            "--output",
            str(script),
        ]
        made = subprocess.run(command, capture_output=True, text=True, timeout=60)
        assert made.returncode == 0, made.stderr
        rabbit.run_script(script)
        workers = {
            w: subprocess.Popen(
                [
                    CASEWATCH,
                    "hub",
                    "--config",
                    str(path),
                    "--worker-id",
                    w,
                    "--http-port",
                    "-1",
                    "--log-format",
                    "text",
                ],
                stdout=(tmp_path / f"{w}.log").open("w"),
                stderr=subprocess.STDOUT,
            )
            for w in ("w1", "w2")
        }
        try:
            scenario(tmp_path, dsn, rabbit, feeds, workers)
        finally:
            for proc in workers.values():
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
            for proc in workers.values():
                proc.wait(30)


def owners(dsn: str) -> dict[str, str]:
    try:
        return _owners(dsn)
    except Exception:  # the workers make the lease table when they start
        return {}


def _owners(dsn: str) -> dict[str, str]:
    rows = sql(dsn, "SELECT center, owner FROM casewatch.leases WHERE expires_ms >"
                    " (extract(epoch from clock_timestamp()) * 1000)::bigint")  # fmt: skip
    return {str(c): str(o) for c, o in rows}


def stored(dsn: str, centre: str) -> list[int]:
    try:
        return [
            int(s)
            for (s,) in sql(
                dsn, f"SELECT seq FROM cw_{centre}.events WHERE agent = 'box-{centre}' ORDER BY seq"
            )
        ]  # type: ignore[call-overload]
    except Exception:  # the schema is made by the centre's first owner
        return []


def scenario(
    tmp_path: Path, dsn: str, rabbit: RabbitMq, feeds: dict[str, AgentFeed], workers: dict[str, Any]
) -> None:
    logs = lambda: [(tmp_path / f"{w}.log").read_text()[-1500:] for w in workers]  # noqa: E731
    assert wait_until(lambda: sorted(owners(dsn).values()) == ["w1", "w2"], 60), (owners(dsn), logs())
    time.sleep(2)  # both centres' hubs subscribed: their sessions exist from now on
    dropped: list[str] = []
    clients = {c: agent_client(rabbit, f, dropped) for c, f in feeds.items()}
    now = int(time.time() * 1000)
    victim = owners(dsn)["k1"]
    for n in range(1, EVENTS + 1):
        for c, feed in feeds.items():
            event = feed.event("band.vitals", now + n, {"band": "B1"}, {"heart_rate": 60 + n % 30})
            clients[c].publish(*feed.message(event), qos=1).wait_for_publish(10)
        if n == EVENTS // 3:
            workers[victim].send_signal(signal.SIGKILL)
        time.sleep(0.05)
    assert wait_until(lambda: all(len(stored(dsn, c)) == EVENTS for c in CENTRES), 60), (
        {c: stored(dsn, c)[-3:] for c in CENTRES},
        owners(dsn),
        logs(),
    )
    for c in CENTRES:
        assert stored(dsn, c) == list(range(1, EVENTS + 1))
    assert set(owners(dsn).values()) == {w for w in workers if w != victim}
    # the access rules, enforced by RabbitMQ: box-k1 may not publish into box-k2's topics
    intruder = feeds["k1"]
    forged = feeds["k2"].event("band.vitals", now + 999, {"band": "B1"}, {"heart_rate": 61})
    topic = "casewatch/k2/box-k2/events/band.vitals"
    clients["k1"].publish(topic, feeds["k2"].message(forged)[1], qos=1)
    assert wait_until(lambda: intruder.agent in dropped, 10), (
        "RabbitMQ should close the intruder's connection"
    )
    time.sleep(2)
    assert len(stored(dsn, "k2")) == EVENTS  # nothing stored from it
    for client in clients.values():
        client.loop_stop()
        client.disconnect()

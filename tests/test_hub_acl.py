"""`casewatch hub acl` on a real Mosquitto with passwords: an agent publishes under its own topic
and nowhere else; the hub reads everything of its centre."""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

from tests.agent_process import CASEWATCH
from tests.brokers import Mosquitto, mosquitto_binary
from tests.hub_helpers import hub_config
from tests.waiting import wait_until


def login(
    broker: Mosquitto, user: str, received: list[tuple[str, bytes]] | None = None, *, tag: str = ""
) -> mqtt.Client:
    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2, client_id=f"acl-{user}{tag}", protocol=mqtt.MQTTv311
    )
    client.username_pw_set(user, f"{user}-pw")
    connected = threading.Event()
    client.on_connect = lambda *_a: connected.set()
    if received is not None:
        client.on_message = lambda _c, _u, m: received.append((m.topic, bytes(m.payload)))
    client.connect(broker.host, broker.port)
    client.loop_start()
    assert connected.wait(5)
    return client


def acl_for(config: Path, *extra: str) -> str:
    done = subprocess.run(
        [CASEWATCH, "hub", "acl", "--config", str(config), *extra],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_each_agent_may_publish_only_under_its_own_topic(tmp_path: Path) -> None:
    binary = mosquitto_binary()
    assert binary is not None, ".ci/run installs Debian's mosquitto"
    agents = [{"id": "box-01", "key_file": "agent.key"}, {"id": "box-02", "key_file": "agent.key"}]
    hub_mqtt = {"host": "127.0.0.1", "port": 1883, "username": "hub-c1", "password": "hub-c1-pw"}
    config = hub_config(tmp_path, 1883, agent_key="k" * 64, agents=agents, mqtt=hub_mqtt)
    acl = tmp_path / "acl"
    acl_for(config, "--output", str(acl))
    text = acl.read_text()
    assert "user box-01\ntopic write casewatch/c1/box-01/#" in text
    assert "user hub-c1\ntopic readwrite casewatch/c1/#" in text
    assert acl_for(config) == text  # printed or written: the same file

    passwords = tmp_path / "passwd"
    passwords.write_text("")
    for user in ("hub-c1", "box-01", "box-02"):
        subprocess.run(["mosquitto_passwd", "-b", str(passwords), user, f"{user}-pw"], check=True)
    (tmp_path / "broker").mkdir()
    broker = Mosquitto(tmp_path / "broker", binary, auth_file=passwords, acl_file=acl).start()
    clients: list[Any] = []
    try:
        received: list[tuple[str, bytes]] = []
        hub = login(broker, "hub-c1", received)
        clients.append(hub)
        hub.subscribe("casewatch/c1/#", qos=1)
        time.sleep(0.3)
        box = login(broker, "box-01")
        clients.append(box)
        box.publish("casewatch/c1/box-01/events/band/vitals", b"mine", qos=1).wait_for_publish(5)
        for topic, payload in (
            ("casewatch/c1/box-02/events/band/vitals", b"forged as box-02"),
            ("casewatch/c1/registry/bands/B0042", b"forged registration"),
        ):
            forger = login(broker, "box-01")  # Mosquitto 2 drops a 3.1.1 client that publishes out of bounds
            clients.append(forger)
            forger.publish(topic, payload, qos=0)
        assert wait_until(lambda: received, 5)
        time.sleep(1.0)  # what the ACL let through would have arrived by now
        assert received == [("casewatch/c1/box-01/events/band/vitals", b"mine")]
        # receipts: each agent reads its own (the hub writes them), never another's
        for agent in ("box-01", "box-02"):
            hub.publish(f"casewatch/c1/{agent}/receipt", agent.encode(), qos=1, retain=True).wait_for_publish(
                5
            )
        mine: list[tuple[str, bytes]] = []
        reader = login(broker, "box-01", mine, tag="-reader")
        clients.append(reader)
        reader.subscribe("casewatch/c1/+/receipt", qos=1)
        assert wait_until(lambda: mine, 5)
        time.sleep(0.5)
        assert mine == [("casewatch/c1/box-01/receipt", b"box-01")]
        # the hub's anchor: every agent reads it (it keeps it off the hub's disk); none may write it
        hub.publish("casewatch/c1/hub/anchor", b"anchor", qos=1, retain=True).wait_for_publish(5)
        forger = login(broker, "box-02")
        clients.append(forger)
        forger.publish("casewatch/c1/hub/anchor", b"forged anchor", qos=0)
        time.sleep(0.5)
        anchors: list[tuple[str, bytes]] = []
        keeper = login(broker, "box-02", anchors, tag="-anchors")
        clients.append(keeper)
        keeper.subscribe("casewatch/c1/hub/anchor", qos=1)
        assert wait_until(lambda: anchors, 5)
        assert anchors == [("casewatch/c1/hub/anchor", b"anchor")]
    finally:
        for client in clients:
            client.loop_stop()
        broker.stop()


def test_a_multi_centre_file_grants_each_agent_its_own_centre_on_every_broker() -> None:
    """The three formats from one multi-centre file: an agent's rights name its centre and itself."""
    from hub.acl import broker_rules
    from hub.config import HubConfig
    from protocol.signing import new_key

    cfg = HubConfig.model_validate({
        "center": "county", "signing": {"key": new_key()},
        "store": {"backend": "postgresql", "dsn": "postgresql://db/cw", "files": "/srv/cw"},
        "mqtt": {"host": "mqtt1", "username": "hubuser", "client_id": "cw-hub"},
        "centers": [{"id": "c01", "agents": [{"id": "box-a", "key": new_key()}]},
                    {"id": "c02", "agents": [{"id": "box-b", "key": new_key()}]}],
    })  # fmt: skip
    mosquitto = broker_rules(cfg, "mosquitto")
    assert "user hubuser\ntopic readwrite casewatch/#" in mosquitto
    assert "user box-a\ntopic write casewatch/c01/box-a/#" in mosquitto
    assert "topic read casewatch/c02/box-b/receipt" in mosquitto and "casewatch/c02/box-a" not in mosquitto
    emqx = broker_rules(cfg, "emqx")
    assert '{allow, {username, "box-b"}, publish, ["casewatch/c02/box-b/#"]}.' in emqx
    assert emqx.rstrip().endswith("{deny, all}.")
    rabbit = broker_rules(cfg, "rabbitmq")
    assert "'box-a' amq.topic '^(casewatch\\.c01\\.box\\-a(\\..*)?)$'" in rabbit
    assert "mqtt-subscription-cw\\-hub-[a-z0-9_]+qos[01]" in rabbit  # each centre's session queue
    assert "mqtt-subscription-casewatch\\-c02\\-box\\-bqos[01]" in rabbit

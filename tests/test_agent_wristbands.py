"""Wristbands over a real pseudo-terminal into the real agent process: a detainee band alone in an
interrogation room raises `unattended`; vitals, tamper and unplugging reach the hub as events."""

from __future__ import annotations

import time
import urllib.request
from pathlib import Path

import pytest

from casewatch.simulation.wristbands import WristbandSimulator
from devices.readings import BandSighting, BandTamperReading, BandVitalsReading
from protocol.registry import BandRegistration, encode_registration
from protocol.topics import TopicLayout
from tests.agent_process import AgentProcess, agent_config
from tests.brokers import Mosquitto, mosquitto_binary
from tests.mqtt_helpers import Collector
from tests.test_agent_process import KEY, decode_all, everything
from tests.waiting import wait_until

pytestmark = pytest.mark.skipif(
    mosquitto_binary() is None, reason="needs Debian's mosquitto (.ci/run installs it)"
)
HUB_KEY = "hub-key-" + "1" * 40
BAND = "0000002A"


def test_detainee_band_alone_in_the_room(tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path / "broker", mosquitto_binary() or "")
    broker.workdir.mkdir()
    broker.start()
    registration = BandRegistration(
        center="c1", band=BAND, role="detainee", case="K1", updated=int(time.time() * 1000)
    )
    hub = Collector(broker.host, broker.port)
    hub.publish(
        TopicLayout().registry_band("c1", BAND),
        encode_registration(registration, HUB_KEY.encode()),
        retain=True,
    )
    hub.close()
    events = everything(broker)
    simulator = WristbandSimulator()
    config = agent_config(
        tmp_path, broker.port, key=KEY, registry_key=HUB_KEY,
        rooms=[{"id": "int-1", "name": "讯问室1", "type": "interrogation", "officer_method": "tags"},
               {"id": "wait-1", "name": "候问室1", "type": "waiting"}],
        devices=[{"id": "wb-rx-1", "driver": "wristband-rs485", "port": simulator.path,
                  "options": {"anchors": {"10": {"room": "int-1"}, "20": {"room": "wait-1"}},
                              "vitals_interval_s": 0, "offline_after_s": 30}}],
        timing={"condition_start_s": 1, "condition_end_s": 1, "stats_interval_s": 2},
    )  # fmt: skip
    agent = AgentProcess(config, tmp_path / "agent.log")
    try:
        agent.start()

        def kinds() -> list[str]:
            return [e.kind for e in decode_all(events.messages)]

        assert wait_until(lambda: "device.health" in kinds(), 10), kinds()
        for _ in range(10):
            simulator.send(BandSighting(BAND, "10", -55), noise=b"\x00\xff garbage")
            time.sleep(0.2)
        simulator.send(BandVitalsReading(BAND, 128, 96, 36.8), BandTamperReading(BAND, True, False))
        assert wait_until(lambda: {"condition.start", "band.vitals", "band.tamper"} <= set(kinds()), 15), (
            kinds()
        )
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{agent.ops_port}/metrics").read().decode()
        counted = [line for line in metrics.splitlines() if line.startswith("casewatch_device_errors_total{")]
        dropped = [float(line.split()[-1]) for line in counted if 'error="dropped_bytes"' in line]
        assert dropped and dropped[0] > 0, counted
        simulator.pty.close()  # the receiver is unplugged
        assert wait_until(lambda: kinds().count("device.health") >= 2, 10), kinds()
        agent.terminate()
    finally:
        agent.stop()
        broker.stop()
        events.close()
    got = decode_all(events.messages)
    position = next(e for e in got if e.kind == "band.position")
    assert position.data.room == "int-1" and position.subject.band == BAND  # type: ignore[attr-defined]
    start = next(e for e in got if e.kind == "condition.start")
    assert start.data.condition == "unattended" and start.subject.room == "int-1"  # type: ignore[attr-defined]
    assert start.data.facts.bands == [BAND]  # type: ignore[attr-defined]
    assert next(e for e in got if e.kind == "band.vitals").data.heart_rate == 128  # type: ignore[attr-defined]
    assert next(e for e in got if e.kind == "band.tamper").data.strap_open is True  # type: ignore[attr-defined]
    health = [e.data.state for e in got if e.kind == "device.health"]  # type: ignore[attr-defined]
    assert health[:2] == ["online", "offline"]
    stats = [e for e in got if e.kind == "agent.stats"]
    assert stats and "wb-rx-1" in stats[-1].data.devices  # type: ignore[attr-defined]

"""An interrogation held by one officer reaches the people responsible for the case: the real agent
process hears a detainee band and one officer band in 讯问室1 (RS-485 frames on a pseudo-terminal,
roles from the hub's retained registry), raises `understaffed`; the hub's INT-TWO yellow SMS goes
to the case's handling officer (and the duty supervisor), orange adds the unit leader — and the
alert names the case, the person and the `condition.start` that raised it (issue 23)."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from casewatch.simulation.modem import SimulatedModem
from casewatch.simulation.wristbands import PtyResponder, WristbandSimulator
from devices.readings import BandSighting
from devices.sms_pdu import decode_submit_text
from tests.agent_process import AgentProcess, agent_config
from tests.api_helpers import api_hub
from tests.brokers import mosquitto_binary
from tests.test_hub_notify import staff_case_and_detainee
from tests.waiting import wait_until

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(mosquitto_binary() is None, reason="needs Debian's mosquitto (.ci/run installs it)"),
]
DETAINEE, OFFICER = "0000B042", "0000B001"  # RS-485 receivers carry 8 hex digits
HANDLING, LEADER, DUTY = "13800000001", "13800000002", "13800000003"


def sent(modem: SimulatedModem) -> list[tuple[str, str]]:
    """Every whole message the modem sent, as (number, text); long ones joined from their parts."""
    parts: dict[tuple[str, int], dict[int, str]] = {}
    totals: dict[tuple[str, int], int] = {}
    for pdu in list(modem.sent):
        number, text, udh = decode_submit_text(pdu)
        ref, total, seq = udh or (-len(parts) - 1, 1, 1)
        parts.setdefault((number, ref), {})[seq] = text
        totals[(number, ref)] = total
    return [
        (number, "".join(chunks[i] for i in sorted(chunks)))
        for (number, ref), chunks in parts.items()
        if len(chunks) == totals[(number, ref)]
    ]


def test_int_two_reaches_the_cases_officer_then_the_unit_leader(tmp_path: Path, mqtt_broker: Any) -> None:
    modem = SimulatedModem(urc_every=0)
    responder = PtyResponder(modem.respond).start()
    bands = WristbandSimulator()
    hearing = threading.Event()

    def hear() -> None:  # both bands heard at the interrogation room's anchor, five times a second
        while not hearing.is_set():
            bands.send(BandSighting(DETAINEE, "10", -50), BandSighting(OFFICER, "10", -52))
            time.sleep(0.2)

    hub_dir, agent_dir = tmp_path / "hub", tmp_path / "agent"
    hub_dir.mkdir()
    agent_dir.mkdir()
    with api_hub(hub_dir, mqtt_broker, notify={"sms": {"port": responder.path}}) as hub:
        staff_case_and_detainee(hub)  # case K1 (unit-a, officer o1), detainee p1 (on band B0042)
        operator, admin = hub.client("operator"), hub.client("admin")
        assert operator.post("/api/v1/bands/B0042/unbind", json={}).status_code == 201
        assert (
            operator.post(
                f"/api/v1/bands/{DETAINEE}/bind", json={"role": "detainee", "person": "p1"}
            ).status_code
            == 201
        )
        assert (
            operator.post(
                f"/api/v1/bands/{OFFICER}/bind", json={"role": "officer", "officer": "o1"}
            ).status_code
            == 201
        )
        stages = [{"level": "yellow", "after_ms": 3_000}, {"level": "orange", "after_ms": 8_000}]
        change = {"enabled": True, "comment": "测试：缩短", "stages": stages}
        assert admin.put("/api/v1/rules/INT-TWO", json=change).status_code == 200
        config = agent_config(
            agent_dir, mqtt_broker.port, key=hub.feed.key_text,
            registry_key=(hub_dir / "hub.key").read_text(),
            mqtt={"host": "127.0.0.1", "port": mqtt_broker.port, "keepalive_s": 5, "client_id": "box-01-e2e"},
            rooms=[{"id": "int-1", "name": "讯问室1", "type": "interrogation", "officer_method": "tags"}],
            devices=[{"id": "wb-rx-1", "driver": "wristband-rs485", "port": bands.path,
                      "options": {"anchors": {"10": {"room": "int-1"}}, "vitals_interval_s": 0}}],
            timing={"condition_start_s": 1, "condition_end_s": 1, "stats_interval_s": 2},
        )  # fmt: skip
        agent = AgentProcess(config, agent_dir / "agent.log")
        sender = threading.Thread(target=hear, daemon=True)
        try:
            agent.start()
            sender.start()
            viewer = hub.client("viewer")

            def int_two() -> list[dict[str, Any]]:
                return list(viewer.get("/api/v1/alerts", params={"rule": "INT-TWO"}).json())

            if not wait_until(lambda: any(a["level"] == "yellow" for a in int_two()), timeout_s=40):
                logged = viewer.get("/api/v1/events", params={"limit": 200}).json()
                kinds = [(e["event"]["kind"], e["event"].get("data", {}).get("condition")) for e in logged]
                import urllib.request

                metrics = urllib.request.urlopen(f"http://127.0.0.1:{agent.ops_port}/metrics").read().decode()
                health = urllib.request.urlopen(f"http://127.0.0.1:{agent.ops_port}/healthz").read().decode()
                reg = [m for m in metrics.splitlines() if "registry" in m]
                pytest.fail(f"no INT-TWO yellow: {int_two()} {kinds[-12:]}\n{reg}\n{health}")

            def int_two_texts() -> set[tuple[str, str]]:  # (number, colour) of INT-TWO messages
                return {
                    (number, text[4:6]) for number, text in sent(modem) if "讯问时办案民警少于二人" in text
                }

            assert wait_until(lambda: {(HANDLING, "黄色"), (DUTY, "黄色")} <= int_two_texts(), timeout_s=20)
            assert (LEADER, "黄色") not in int_two_texts()  # yellow: not the unit leader
            orange = {(LEADER, "橙色"), (HANDLING, "橙色"), (DUTY, "橙色")}  # sent one by one, any order
            assert wait_until(lambda: orange <= int_two_texts(), timeout_s=30), int_two_texts()
            (alert,) = int_two()
            assert alert["context"]["case"] == "K1" and alert["context"]["person"] == "p1"
            assert alert["context"]["cases"] == ["K1"] and alert["context"]["persons"] == ["p1"]
            detail = viewer.get(f"/api/v1/alerts/{alert['id']}").json()
            kinds = {e["kind"] for e in detail["evidence"]}
            assert "condition.start" in kinds, detail["evidence"]  # the start is the alert's evidence
            start = next(e for e in detail["evidence"] if e["kind"] == "condition.start")
            logged = viewer.get(f"/api/v1/events/{start['pos']}").json()["event"]
            assert logged["data"]["facts"]["cases"] == ["K1"]  # the agent named the case itself
        finally:
            hearing.set()
            agent.stop()
            bands.close()
            responder.close()

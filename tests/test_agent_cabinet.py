"""A dossier cabinet in the real agent process: fingerprint + QR over pseudo-terminals become
signed cabinet events on the broker, in seq order, with the cabinet's health."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from casewatch.simulation.cabinet import CabinetSimulator
from tests.agent_process import AgentProcess, agent_config
from tests.brokers import Mosquitto, mosquitto_binary
from tests.test_agent_process import KEY, decode_all, everything
from tests.waiting import wait_until

pytestmark = pytest.mark.skipif(
    mosquitto_binary() is None, reason="needs Debian's mosquitto (.ci/run installs it)"
)
DOC = "A3301020250001-01"


def test_cabinet_events_reach_the_broker_signed(tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path / "broker", mosquitto_binary() or "")
    broker.workdir.mkdir()
    broker.start()
    events = everything(broker)
    cabinet = CabinetSimulator(slots=4, enrolled={"P1001": 7}).start()
    config = agent_config(
        tmp_path, broker.port, key=KEY,
        rooms=[{"id": "dossier-1", "name": "卷宗室", "type": "dossier"}],
        devices=[{"id": "cab-1", "driver": "dossier-cabinet", "room": "dossier-1",
                  "options": cabinet.options(inventory_file=str(tmp_path / "inventory.json"))}],
    )  # fmt: skip
    agent = AgentProcess(config, tmp_path / "agent.log")
    try:
        agent.start()

        def kinds() -> list[str]:
            return [e.kind for e in decode_all(events.messages)]

        assert wait_until(lambda: "device.health" in kinds(), 15), kinds()
        cabinet.finger("P1001")
        time.sleep(0.5)
        cabinet.finger(None)
        cabinet.scan(DOC)
        assert wait_until(lambda: cabinet.open_door("s01"), 10)
        cabinet.put("s01")
        time.sleep(0.5)
        cabinet.close_door("s01")
        cabinet.open_door("s02", force=True)
        want = ["cabinet.scan", "cabinet.access", "cabinet.door", "cabinet.slot"] + ["cabinet.door"] * 2
        assert wait_until(lambda: [k for k in kinds() if k.startswith("cabinet.")] == want, 10), kinds()
        agent.terminate()
    finally:
        agent.stop()
        cabinet.close()
        broker.stop()
        events.close()
    got = [e for e in decode_all(events.messages) if e.kind.startswith("cabinet.")]
    assert [e.seq for e in got] == sorted(e.seq for e in got)
    access = got[1]
    assert access.subject.cabinet == "cab-1" and access.subject.case == "A3301020250001"  # type: ignore[attr-defined]
    assert access.data.granted and access.data.officers == ["P1001"]  # type: ignore[attr-defined]
    assert got[3].data.model_dump(exclude_none=True) == {"state": "in", "document": DOC, "scanned": True}
    doors = {(e.subject.slot, e.data.state) for e in got if e.kind == "cabinet.door"}  # type: ignore[attr-defined]
    assert doors == {("s01", "open"), ("s01", "closed"), ("s02", "forced")}

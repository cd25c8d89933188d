"""The dossier cabinet driver against the simulated cabinet over three pseudo-terminals: a return
and a take with fingerprint + QR, a forced door, a part that stops answering, the inventory kept
across a restart."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from casewatch.simulation.cabinet import CabinetSimulator
from devices.config import Device
from devices.events import DeviceEvent
from devices.service import DeviceService
from protocol.clock import SystemClock
from tests.waiting import wait_until

DOC = "A3301020250001-01"


class Cabinet:
    def __init__(self, sim: CabinetSimulator, inventory: Path, **options: Any) -> None:
        self.events: list[DeviceEvent] = []
        device = Device.model_validate(
            {
                "id": "cab-1",
                "driver": "dossier-cabinet",
                "options": sim.options(state_file=str(inventory), **options),
            }
        )
        self.service = DeviceService([device], self.events.extend, clock=SystemClock(), tick_s=0.2).start()

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e.data.model_dump(exclude_none=True) for e in list(self.events) if e.kind == kind]

    def wait(self, kind: str, count: int = 1, timeout_s: float = 10) -> list[dict[str, Any]]:
        assert wait_until(lambda: len(self.of(kind)) >= count, timeout_s), [e.kind for e in self.events]
        return self.of(kind)


WIRINGS = {
    "modbus, door 0=closed, file 1=present": ("modbus", 0, 1),
    "modbus, door 1=closed, file 0=present": ("modbus", 1, 0),
    "kerong-cu16, hook 1=locked, sensor 1=present": ("kerong-cu16", 1, 1),
}


@pytest.fixture(params=list(WIRINGS))
def sim(request: pytest.FixtureRequest) -> Iterator[CabinetSimulator]:
    """Both board families and both common wirings: every test reads the same events through each."""
    family, door_closed, file_present = WIRINGS[request.param]
    simulator = CabinetSimulator(
        enrolled={"P1001": 7, "P1002": 8}, family=family,
        door_closed_level=door_closed, file_present_level=file_present,
    ).start()  # fmt: skip
    yield simulator
    simulator.close()


def touch(sim: CabinetSimulator, finger: str) -> None:
    sim.finger(finger)
    time.sleep(0.5)
    sim.finger(None)


def test_return_then_take_with_fingerprint_and_qr(sim: CabinetSimulator, tmp_path: Path) -> None:
    inventory = tmp_path / "inventory.json"
    cabinet = Cabinet(sim, inventory)
    try:
        assert cabinet.wait("device.health")[0]["state"] == "online"
        touch(sim, "P1001")
        sim.scan(DOC)
        access = cabinet.wait("cabinet.access")[0]
        assert access["granted"] and access["action"] == "return" and access["slot"] == "s01"
        assert wait_until(lambda: sim.open_door("s01"), 5)  # the lock was pulsed
        sim.put("s01")
        time.sleep(0.4)
        sim.close_door("s01")
        assert cabinet.wait("cabinet.slot")[0] == {"state": "in", "document": DOC, "scanned": True}
        assert wait_until(lambda: json.loads(inventory.read_text())["inventory"] == {DOC: "s01"}, 5)
    finally:
        cabinet.service.stop()
    # a restart remembers where the document lies: scanning it again is a take from s01
    cabinet = Cabinet(sim, inventory)
    try:
        cabinet.wait("device.health")
        sim.scan(DOC)
        time.sleep(0.3)
        touch(sim, "P1002")
        access = cabinet.wait("cabinet.access")[0]
        assert access["action"] == "take" and access["slot"] == "s01" and access["officers"] == ["P1002"]
        assert wait_until(lambda: sim.open_door("s01"), 5)
        sim.take("s01")
        slot = cabinet.wait("cabinet.slot")[0]
        assert slot == {"state": "out", "document": DOC, "scanned": True}
    finally:
        cabinet.service.stop()


def test_forced_door_unknown_finger_and_a_silent_take(sim: CabinetSimulator, tmp_path: Path) -> None:
    inventory = tmp_path / "inventory.json"
    inventory.write_text(json.dumps({DOC: "s02"}))
    sim.put("s02")
    cabinet = Cabinet(sim, inventory, door_held_s=1)
    try:
        cabinet.wait("device.health")
        touch(sim, "stranger")
        assert cabinet.wait("cabinet.access")[0]["reason"] == "no_match"
        assert not sim.open_door("s02")  # still locked
        sim.open_door("s02", force=True)
        sim.take("s02")
        doors = cabinet.wait("cabinet.door", 2)
        assert [d["state"] for d in doors] == ["forced", "held_open"]
        assert cabinet.wait("cabinet.slot")[0] == {"state": "out", "document": DOC, "scanned": False}
    finally:
        cabinet.service.stop()


def test_a_part_that_stops_answering_takes_the_cabinet_offline_then_online(
    sim: CabinetSimulator, tmp_path: Path
) -> None:
    cabinet = Cabinet(sim, tmp_path / "inventory.json")
    try:
        cabinet.wait("device.health")
        sim.silent = True
        health = cabinet.wait("device.health", 2)[1]
        assert health["state"] == "offline" and (
            "board" in health["detail"] or "fingerprint" in health["detail"]
        )
        sim.silent = False
        assert cabinet.wait("device.health", 3, timeout_s=15)[2]["state"] == "online"
    finally:
        cabinet.service.stop()


def test_a_password_protected_module_is_reported_within_5_s_and_works_with_its_password(
    sim: CabinetSimulator, tmp_path: Path
) -> None:
    sim.fingerprint.password = 0x00C0FFEE
    started = time.monotonic()
    cabinet = Cabinet(sim, tmp_path / "state.json")
    try:
        health = cabinet.wait("device.health", timeout_s=5)[0]
        assert time.monotonic() - started < 5
        assert health["state"] == "offline" and "0x13 (wrong password)" in health["detail"], health
        assert "fingerprint.password" in health["detail"]
    finally:
        cabinet.service.stop()
    module = {"port": sim.ptys["fingerprint"].path, "poll_s": 0.1, "password": 0x00C0FFEE}
    fixed = Cabinet(sim, tmp_path / "state.json", fingerprint=module)
    try:
        assert fixed.wait("device.health")[0]["state"] == "online"
        touch(sim, "P1001")
        sim.scan(DOC)
        assert fixed.wait("cabinet.access")[0]["granted"]
    finally:
        fixed.service.stop()


def test_a_module_that_starts_refusing_commands_takes_the_cabinet_offline_with_the_code(
    sim: CabinetSimulator, tmp_path: Path
) -> None:
    cabinet = Cabinet(sim, tmp_path / "state.json")
    try:
        assert cabinet.wait("device.health")[0]["state"] == "online"
        sim.fingerprint.password, sim.fingerprint.verified = 0x1234, False  # e.g. swapped module
        health = cabinet.wait("device.health", 2, timeout_s=5)[1]
        assert (
            health["state"] == "offline" and "0x21 (the password must be verified first)" in health["detail"]
        )
    finally:
        cabinet.service.stop()


def test_a_module_that_reboots_and_forgets_the_password_is_back_within_seconds(
    sim: CabinetSimulator, tmp_path: Path
) -> None:
    sim.fingerprint.password = 0x00C0FFEE
    module = {"port": sim.ptys["fingerprint"].path, "poll_s": 0.1, "password": 0x00C0FFEE}
    cabinet = Cabinet(sim, tmp_path / "state.json", fingerprint=module)
    try:
        assert cabinet.wait("device.health")[0]["state"] == "online"
        sim.fingerprint.verified = False  # a brown-out: the module asks for its password again
        assert cabinet.wait("device.health", 2, timeout_s=5)[1]["state"] == "offline"
        assert cabinet.wait("device.health", 3, timeout_s=8)[2]["state"] == "online"  # re-verified
    finally:
        cabinet.service.stop()

"""A scripted wristband timeline through the real driver: a band walks from room to room while
its heart rate climbs, then its strap is opened."""

from __future__ import annotations

import threading

from casewatch.simulation.wristbands import WristbandSimulator, run_wristband_script
from devices.config import Device
from devices.events import DeviceEvent
from devices.service import DeviceService
from protocol.clock import SystemClock

STEPS = [
    {"at": 0, "band": "00000001", "anchor": "10", "heart_rate": 80, "spo2": 98},
    {"at": 1.5, "band": "00000001", "anchor": "20", "rssi": -45, "heart_rate": 105},
    {"at": 3.0, "band": "00000001", "heart_rate": 132},
    {"at": 3.5, "band": "00000001", "strap_open": True},
]


def test_band_walks_and_heart_rate_climbs() -> None:
    simulator = WristbandSimulator()
    events: list[DeviceEvent] = []
    device = Device.model_validate(
        {
            "id": "wb-rx-1",
            "driver": "wristband-rs485",
            "port": simulator.path,
            "options": {
                "anchors": {"10": {"room": "wait-1"}, "20": {"room": "int-1"}},
                "hold_s": 0.5,
                "vitals_interval_s": 0,
            },
        }
    )
    service = DeviceService([device], events.extend, clock=SystemClock()).start()
    try:
        player = threading.Thread(
            target=run_wristband_script, args=(simulator, STEPS), kwargs={"tail_s": 1.5}
        )
        player.start()
        player.join(20)
    finally:
        service.stop()
        simulator.pty.close()
    rooms = [e.room for e in events if e.kind == "band.position"]
    rates = [e.data.model_dump()["heart_rate"] for e in events if e.kind == "band.vitals"]
    assert rooms == ["wait-1", "int-1"]
    assert rates[0] == 80 and rates[-1] == 132 and rates == sorted(rates)
    tamper = [e.data.model_dump() for e in events if e.kind == "band.tamper"]
    assert tamper == [{"strap_open": True, "magnet": False}]

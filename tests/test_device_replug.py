"""A receiver unplugged and plugged back in mid-stream: udev gives it the same by-id path again
(here a symlink re-pointed at a new pseudo-terminal); the driver reports offline, then online
within 5 s of the port's return, and decodes the new stream."""

from __future__ import annotations

import os
import time
from pathlib import Path

from casewatch.simulation.wristbands import WristbandSimulator
from devices.config import Device
from devices.events import DeviceEvent
from devices.readings import BandSighting
from devices.service import DeviceService
from protocol.clock import SystemClock
from tests.waiting import wait_until


def test_pty_closed_and_reopened_mid_stream(tmp_path: Path) -> None:
    by_id = tmp_path / "usb-wristband-receiver-if00"
    first = WristbandSimulator()
    os.symlink(first.path, by_id)
    events: list[DeviceEvent] = []
    device = Device.model_validate(
        {
            "id": "wb-rx-1",
            "driver": "wristband-rs485",
            "port": str(by_id),
            "options": {"anchors": {"10": {"room": "int-1"}, "20": {"room": "wait-1"}}, "hold_s": 0},
        }
    )
    service = DeviceService([device], events.extend, clock=SystemClock()).start()

    def health() -> list[str]:
        return [e.data.model_dump()["state"] for e in list(events) if e.kind == "device.health"]

    def rooms() -> list[str | None]:
        return [e.room for e in list(events) if e.kind == "band.position"]

    second: WristbandSimulator | None = None
    try:
        assert wait_until(lambda: health() == ["online"], 5), health()
        first.send(BandSighting("00000001", "10", -50), noise=b"\x55\xaa half a fra")
        assert wait_until(lambda: rooms() == ["int-1"], 5), rooms()
        assert sum(service.errors()["wb-rx-1"].values()) > 0  # the half frame was counted
        first.pty.close()  # unplugged mid-stream
        assert wait_until(lambda: health() == ["online", "offline"], 5), health()
        time.sleep(1.5)
        second = WristbandSimulator()
        os.unlink(by_id)
        os.symlink(second.path, by_id)  # plugged back in
        replugged = time.monotonic()
        assert wait_until(lambda: health() == ["online", "offline", "online"], 5), health()
        assert time.monotonic() - replugged < 5
        for _ in range(20):  # the band walks next door (sightings until the zone holds)
            second.send(BandSighting("00000001", "20", -40))
            time.sleep(0.05)
        assert wait_until(lambda: rooms() == ["int-1", "wait-1"], 5), rooms()
    finally:
        service.stop()
        if second is not None:
            second.pty.close()

"""JSON wristband gateways: the field mapping (BLE sighting arrays, UWB coordinates), polygon
zones, JSON lines over TCP, and an MQTT gateway on a real broker."""

from __future__ import annotations

import json
import socket
import threading
import time
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from devices.config import Device
from devices.events import DeviceEvent
from devices.gateway_mapping import FieldMap, GatewayMapping, band_key
from devices.readings import (
    BandBatteryReading,
    BandLocated,
    BandSighting,
    BandTamperReading,
    BandVitalsReading,
)
from devices.service import DeviceService
from devices.uwb_zones import PolygonZones, inside
from protocol.clock import SystemClock
from tests.fuzzing import CODEC_FUZZ
from tests.mqtt_helpers import Collector
from tests.waiting import wait_until

MINEW = [
    {"timestamp": "2026-11-22T08:00:00.000Z", "type": "Gateway", "mac": "AC233FC0A1B2", "gatewayFree": 98},
    {"timestamp": "2026-11-22T08:00:00.100Z", "type": "iBeacon", "mac": "AC:23:3F:A0:00:2A", "rssi": -58,
     "ibeaconMajor": 1, "ibeaconMinor": 42, "battery": 87},
    {"timestamp": "2026-11-22T08:00:00.200Z", "type": "Unknown", "mac": "11:22:33:44:55:66", "rssi": -90},
]  # fmt: skip
MINEW_MAP = FieldMap(only={"type": "iBeacon"}, band="mac", anchor="topic:1", rssi="rssi", battery="battery")
UWB = {"tagId": "T-0042", "coordinates": {"x": 3.2, "y": 1.5, "z": 1.1}, "anchorData": [{"anchorId": "A1"}]}
UWB_MAP = FieldMap(band="tagId", x="coordinates.x", y="coordinates.y")
ROOMS = {
    "int-1": [(0.0, 0.0), (4.0, 0.0), (4.0, 3.0), (0.0, 3.0)],
    "corr-1": [(4.0, 0.0), (10.0, 0.0), (10.0, 3.0), (4.0, 3.0)],
}


def test_minew_sighting_array_with_the_gateway_as_anchor() -> None:
    mapping = GatewayMapping(MINEW_MAP)
    readings = mapping.readings(MINEW, "gw/AC233FC0A1B2/status")
    assert readings == [
        BandSighting("AC233FA0002A", "AC233FC0A1B2", -58),
        BandBatteryReading("AC233FA0002A", 87, None),
    ]
    assert mapping.filtered == 2 and mapping.bad_records == 0


def test_uwb_coordinates_and_a_vitals_line() -> None:
    assert GatewayMapping(UWB_MAP).readings(UWB) == [BandLocated("T-0042", 3.2, 1.5)]
    vitals = FieldMap(band="id", heart_rate="hr", spo2="vitals.spo2", strap_open="strap")
    got = GatewayMapping(vitals).readings({"id": 7, "hr": "88", "vitals": {"spo2": 97}, "strap": "open"})
    assert got == [BandVitalsReading("7", 88, 97, None), BandTamperReading("7", True, False)]


def test_unusable_records_are_counted_not_raised() -> None:
    mapping = GatewayMapping(UWB_MAP)
    assert mapping.readings({"tagId": None, "coordinates": {"x": 1, "y": 2}}) == []
    assert mapping.readings({"tagId": "T1", "coordinates": {"x": "far", "y": 2}}) == []
    assert mapping.readings("not an object") == []
    assert mapping.bad_records == 3
    assert band_key("aa:bb:cc") == "AABBCC" and band_key({"x": 1}) is None


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.sampled_from(
        ["tagId", "mac", "rssi", "type", "coordinates", "x", "y", "hr", "battery", "data", "0"]),
        children, max_size=5),
    max_leaves=20,
)  # fmt: skip


@CODEC_FUZZ
@given(JSON, st.text(max_size=30))
def test_any_json_document_maps_without_raising(document: Any, topic: str) -> None:
    for fields in (MINEW_MAP, UWB_MAP, FieldMap(records="data", band="mac", heart_rate="hr", button="x")):
        for reading in GatewayMapping(fields).readings(document, topic):
            assert band_key(reading.band) == reading.band  # every band id is a valid key


def test_point_in_polygon_and_hysteresis_at_a_shared_wall() -> None:
    assert inside((2, 1), ROOMS["int-1"]) and not inside((5, 1), ROOMS["int-1"])
    assert sum(inside((4.0, 1.0), p) for p in ROOMS.values()) == 1  # a point on the wall is in one room
    zones = PolygonZones({k: list(v) for k, v in ROOMS.items()}, hold_ms=2000)
    assert zones.located("T1", 2, 1, 0) is not None  # first fix places the band at once
    assert zones.located("T1", 4.1, 1, 500) is None  # jitter across the doorway
    assert zones.located("T1", 3.9, 1, 900) is None
    assert zones.located("T1", 4.2, 1, 1000) is None
    assert zones.located("T1", 4.5, 1, 2500) is None  # 1.5 s outside: not yet
    moved = zones.located("T1", 5.0, 1, 3100)
    assert moved is not None and (moved.zone, moved.previous) == ("corr-1", "int-1")
    assert zones.located("T1", 50, 50, 4000) is None  # outside every polygon: stays where it was


def serve_lines(lines: list[bytes]) -> tuple[int, threading.Thread]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)

    def run() -> None:
        conn, _ = server.accept()
        for line in lines:
            conn.sendall(line)
            time.sleep(0.05)
        time.sleep(1)
        conn.close()
        server.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return server.getsockname()[1], thread


def test_json_lines_over_tcp_with_bad_lines_in_between() -> None:
    lines = [
        b'{"tag": "00000001", "anchor": "10", "rssi": -50}\n',
        b"{not json\n",
        b'{"tag": "00000001", "hr": 131, "spo2": 95}\r\n',
        b'[1, 2, 3]\n{"tag": "00000001", "an',
        b'chor": "10", "rssi": -52, "strap": 1}\n',
    ]
    port, thread = serve_lines(lines)
    events: list[DeviceEvent] = []
    device = Device.model_validate(
        {
            "id": "wb-gw-1",
            "driver": "wristband-jsonl",
            "port": f"socket://127.0.0.1:{port}",
            "options": {
                "anchors": {"10": {"room": "int-1"}},
                "vitals_interval_s": 0,
                "mapping": {"band": "tag", "anchor": "anchor", "rssi": "rssi", "heart_rate": "hr",
                            "spo2": "spo2", "strap_open": "strap"},
            },
        }
    )  # fmt: skip
    service = DeviceService([device], events.extend, clock=SystemClock())
    driver = service._drivers["wb-gw-1"]
    service.start()
    try:
        want = {"device.health", "band.position", "band.vitals", "band.tamper"}
        assert wait_until(lambda: want <= {e.kind for e in list(events)}, 10), [e.kind for e in events]
        assert driver.docs.bad_json == 1 and driver.docs.mapping.bad_records == 3
        vitals = next(e for e in events if e.kind == "band.vitals")
        assert vitals.data.model_dump(exclude_none=True) == {"heart_rate": 131, "spo2": 95}
    finally:
        service.stop()
        thread.join(3)


def test_mqtt_gateway_on_a_real_broker(mqtt_broker: Any, tmp_path: Path) -> None:
    events: list[DeviceEvent] = []
    device = Device.model_validate(
        {
            "id": "ble-gw",
            "driver": "wristband-mqtt",
            "options": {
                "broker": f"{mqtt_broker.host}:{mqtt_broker.port}",
                "topics": ["gw/+/status"],
                "anchors": {"AC233FC0A1B2": {"room": "wait-1"}},
                "mapping": MINEW_MAP.model_dump(exclude_none=True),
            },
        }
    )
    service = DeviceService([device], events.extend, clock=SystemClock()).start()
    gateway = Collector(mqtt_broker.host, mqtt_broker.port)
    try:
        assert wait_until(lambda: any(e.kind == "device.health" for e in list(events)), 10)
        gateway.publish("gw/AC233FC0A1B2/status", json.dumps(MINEW).encode())
        gateway.publish("gw/AC233FC0A1B2/status", b"\xff garbage")
        assert wait_until(lambda: any(e.kind == "band.position" for e in list(events)), 10)
        position = next(e for e in events if e.kind == "band.position")
        assert position.room == "wait-1" and position.subject["band"] == "AC233FA0002A"
        assert wait_until(lambda: service._drivers["ble-gw"].docs.bad_json == 1, 5)
    finally:
        gateway.close()
        service.stop()

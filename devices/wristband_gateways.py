"""Wristband gateways that speak JSON, as agent devices.

- ``wristband-jsonl``: one JSON document a line, over a serial port or TCP (``socket://host:port``
  — the port URL decides).
- ``wristband-mqtt``: a BLE gateway or UWB engine publishing JSON to its own MQTT broker; the
  device subscribes to ``topics`` there. This is a *source* of readings: the driver never
  publishes, and the agent's own broker connection is separate.

Both map documents to readings with ``options.mapping`` (``devices.gateway_mapping``) and share
``WristbandLogic`` with the RS-485 receiver: anchors with hysteresis for BLE, polygons for UWB,
vitals rate limit, offline after silence. Bad JSON and unusable records are counted and logged
(at most once a minute per device), never fatal.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from pydantic import Field

from devices.events import DeviceEvent
from devices.gateway_mapping import FieldMap, GatewayMapping
from devices.registry import register_driver
from devices.wristbands import WristbandLogic, WristbandOptions
from protocol.clock import Clock

log = logging.getLogger(__name__)


class JsonGatewayOptions(WristbandOptions):
    mapping: FieldMap = Field(default_factory=FieldMap)
    max_line_bytes: int = Field(65536, ge=256, le=16 * 1024 * 1024)


class MqttGatewayOptions(JsonGatewayOptions):
    broker: str = Field(..., pattern=r"^[^\s:/]+:\d{1,5}$", description="HOST:PORT of the gateway's broker")
    topics: list[str] = Field(..., min_length=1)
    username: str | None = None
    password: str | None = None
    client_id: str | None = None


class _JsonDocuments:
    """Shared by both drivers: documents in, events out, problems counted."""

    def __init__(self, device: str, options: JsonGatewayOptions) -> None:
        self.device = device
        self.logic = WristbandLogic(device, options)
        self.mapping = GatewayMapping(options.mapping)
        self.bad_json = 0
        self._last_warning = 0.0

    def _warn(self, text: str, *args: object) -> None:
        if time.monotonic() - self._last_warning >= 60:
            self._last_warning = time.monotonic()
            log.warning("%s: " + text, self.device, *args)

    def errors(self) -> dict[str, int]:
        return {
            "bad_json": self.bad_json,
            "bad_records": self.mapping.bad_records,
            "unknown_anchors": self.logic.unknown_anchors,
        }

    def document(self, raw: bytes, now_ms: int, topic: str = "") -> list[DeviceEvent]:
        try:
            doc: Any = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            self.bad_json += 1
            self._warn("bad JSON from the gateway (%d so far): %s", self.bad_json, exc)
            return []
        before = self.mapping.bad_records
        out: list[DeviceEvent] = []
        for reading in self.mapping.readings(doc, topic):
            out += self.logic.reading(reading, now_ms)
        if self.mapping.bad_records > before:
            self._warn("records the mapping cannot use (%d so far)", self.mapping.bad_records)
        return out


@register_driver("wristband-jsonl")
class WristbandJsonLines:
    Options = JsonGatewayOptions

    def __init__(self, device: str, options: JsonGatewayOptions) -> None:
        self.docs = _JsonDocuments(device, options)
        self.max_line = options.max_line_bytes
        self.oversize = 0
        self._buffer = bytearray()
        self._skipping = False

    def feed(self, data: bytes, now_ms: int) -> list[DeviceEvent]:
        out: list[DeviceEvent] = []
        self._buffer += data
        while True:
            end = self._buffer.find(b"\n")
            if end < 0:
                if len(self._buffer) > self.max_line:
                    self.oversize += 1
                    self._buffer.clear()
                    self._skipping = True  # drop the rest of this line too
                return out
            line = bytes(self._buffer[:end]).strip()
            del self._buffer[: end + 1]
            if self._skipping:
                self._skipping = False
                continue
            if line:
                out += self.docs.document(line, now_ms)

    def tick(self, now_ms: int) -> list[DeviceEvent]:
        return self.docs.logic.tick(now_ms)

    def errors(self) -> dict[str, int]:
        return {**self.docs.errors(), "oversize_lines": self.oversize}


@register_driver("wristband-mqtt")
class WristbandMqttGateway:
    Options = MqttGatewayOptions
    active = True

    def __init__(self, device: str, options: MqttGatewayOptions) -> None:
        self.device = device
        self.options = options
        self.docs = _JsonDocuments(device, options)
        self._lock = threading.Lock()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=options.client_id or f"casewatch-{device}",
            protocol=mqtt.MQTTv311,
        )
        if options.username:
            self.client.username_pw_set(options.username, options.password)
        self.client.reconnect_delay_set(1, 10)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.on_connect_fail = self._on_connect_fail
        self._emit: Any = None
        self._on_health: Any = None
        self._clock: Clock | None = None

    def start(self, emit: Any, on_health: Any, clock: Clock) -> WristbandMqttGateway:
        self._emit, self._on_health, self._clock = emit, on_health, clock
        host, port = self.options.broker.rsplit(":", 1)
        self.client.connect_async(host, int(port), keepalive=30)
        self.client.loop_start()
        return self

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def _on_connect(
        self, client: mqtt.Client, _ud: object, _flags: object, reason: Any, _props: object
    ) -> None:
        if reason.is_failure:
            self._on_health(False, f"gateway broker {self.options.broker} refused: {reason}")
            return
        for topic in self.options.topics:
            client.subscribe(topic, qos=0)
        self._on_health(True, f"subscribed to {', '.join(self.options.topics)} on {self.options.broker}")

    def _on_connect_fail(self, _c: mqtt.Client, _ud: object) -> None:
        self._on_health(False, f"cannot reach gateway broker {self.options.broker}")

    def _on_disconnect(
        self, _c: mqtt.Client, _ud: object, _flags: object, reason: Any, _props: object
    ) -> None:
        self._on_health(False, f"gateway broker {self.options.broker} lost: {reason}")

    def _on_message(self, _client: mqtt.Client, _ud: object, message: mqtt.MQTTMessage) -> None:
        assert self._clock is not None
        with self._lock:
            events = self.docs.document(message.payload, self._clock.now_ms(), message.topic)
        if events:
            self._emit(events)

    def tick(self, now_ms: int) -> list[DeviceEvent]:
        with self._lock:
            return self.docs.logic.tick(now_ms)

    def errors(self) -> dict[str, int]:
        return self.docs.errors()

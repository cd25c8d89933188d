"""Wristband receivers as an agent device: bytes -> readings -> events the hub cares about.

Not every reading becomes an event: positions only when the band's anchor changes (after
hysteresis), vitals at most once per ``vitals_interval_s`` per band, tamper and battery (steps of
5 %) only when they change, every button press, and ``band.link`` when a band falls silent for
``offline_after_s`` or is heard again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from devices.band_zones import BandZones
from devices.events import DeviceEvent
from devices.readings import (
    BandBatteryReading,
    BandButtonReading,
    BandLocated,
    BandSighting,
    BandTamperReading,
    BandVitalsReading,
    Reading,
)
from devices.registry import register_driver
from devices.uwb_zones import PolygonZones
from devices.wristband_frames import WristbandDecoder
from protocol.data import BandBattery, BandButton, BandLink, BandPosition, BandTamper, BandVitals
from protocol.fields import KEY_PATTERN

Key = Annotated[str, Field(pattern=KEY_PATTERN)]


class AnchorPlace(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    room: Key
    zone: Key | None = None


class Polygon(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    room: Key
    points: list[tuple[float, float]] = Field(..., min_length=3, description="[[x, y], …] in metres")


class WristbandOptions(BaseModel):
    """``devices[].options`` of a wristband receiver."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    anchors: dict[str, AnchorPlace] = Field(default_factory=dict, description="anchor id -> room (and zone)")
    polygons: dict[Key, Polygon] = Field(default_factory=dict, description="UWB: zone id -> room and outline")
    margin_db: float = Field(6.0, ge=0, le=40)
    hold_s: float = Field(3.0, ge=0, le=60)
    offline_after_s: float = Field(30.0, gt=0, le=3600)
    vitals_interval_s: float = Field(10.0, ge=0, le=3600)


@dataclass
class WristbandLogic:
    """Pure: readings and times in, events out."""

    device: str
    options: WristbandOptions
    zones: BandZones = field(init=False)
    areas: PolygonZones = field(init=False)
    _last_vitals: dict[str, int] = field(default_factory=dict)
    _tamper: dict[str, tuple[bool, bool]] = field(default_factory=dict)
    _battery: dict[str, int] = field(default_factory=dict)
    _offline: set[str] = field(default_factory=set)
    unknown_anchors: int = 0

    def __post_init__(self) -> None:
        o = self.options
        self.zones = BandZones(
            margin_db=o.margin_db, hold_ms=int(o.hold_s * 1000), offline_ms=int(o.offline_after_s * 1000)
        )
        self.areas = PolygonZones(
            {zone: list(p.points) for zone, p in o.polygons.items()}, hold_ms=int(o.hold_s * 1000)
        )

    def _zone_key(self, anchor: str) -> tuple[str | None, str | None]:
        place = self.options.anchors.get(anchor)
        if place is None:
            return None, None
        return place.room, place.zone or f"{place.room}-a{anchor}"

    def reading(self, reading: Reading, now_ms: int) -> list[DeviceEvent]:
        band = reading.band
        out = []
        subject = {"band": band}
        if band in self._offline:
            self._offline.discard(band)
            out.append(DeviceEvent("band.link", self.device, subject, BandLink(state="online"), now_ms))
        self.zones.heard(band, now_ms)
        if isinstance(reading, BandLocated):
            moved = self.areas.located(band, reading.x, reading.y, now_ms)
            if moved is not None:
                area = self.options.polygons[moved.zone].room
                located = BandPosition(
                    zone=moved.zone, room=area, previous_zone=moved.previous, x=moved.x, y=moved.y
                )
                out.append(
                    DeviceEvent(
                        "band.position", self.device, {**subject, "room": area}, located, now_ms, area
                    )
                )
        elif isinstance(reading, BandSighting):
            if reading.anchor not in self.options.anchors:
                self.unknown_anchors += 1
                return out
            change = self.zones.sighting(band, reading.anchor, reading.rssi, now_ms)
            if change is not None:
                room, zone = self._zone_key(change.anchor)
                _, previous = self._zone_key(change.previous) if change.previous else (None, None)
                position = BandPosition(
                    zone=zone,
                    room=room,
                    previous_zone=previous,
                    anchor=change.anchor,
                    rssi=max(-150, min(20, change.rssi)),
                )
                out.append(
                    DeviceEvent(
                        "band.position",
                        self.device,
                        {**subject, **({"room": room} if room else {})},
                        position,
                        now_ms,
                        room,
                    )
                )
        elif isinstance(reading, BandVitalsReading):
            last = self._last_vitals.get(band)
            if last is None or now_ms - last >= self.options.vitals_interval_s * 1000:
                self._last_vitals[band] = now_ms
                data = BandVitals(
                    heart_rate=reading.heart_rate, spo2=reading.spo2, temperature_c=reading.temperature_c
                )
                out.append(DeviceEvent("band.vitals", self.device, subject, data, now_ms))
        elif isinstance(reading, BandTamperReading):
            state = (reading.strap_open, reading.magnet)
            if self._tamper.get(band) != state:
                self._tamper[band] = state
                out.append(
                    DeviceEvent(
                        "band.tamper",
                        self.device,
                        subject,
                        BandTamper(strap_open=state[0], magnet=state[1]),
                        now_ms,
                    )
                )
        elif isinstance(reading, BandBatteryReading):
            last_percent = self._battery.get(band)
            if last_percent is None or abs(reading.percent - last_percent) >= 5:
                self._battery[band] = reading.percent
                battery = BandBattery(percent=reading.percent, millivolts=reading.millivolts)
                out.append(DeviceEvent("band.battery", self.device, subject, battery, now_ms))
        elif isinstance(reading, BandButtonReading):
            button = BandButton.model_validate({"button": min(reading.button, 15), "press": reading.press})
            out.append(DeviceEvent("band.button", self.device, subject, button, now_ms))
        return out

    def tick(self, now_ms: int) -> list[DeviceEvent]:
        out = []
        for band in self.zones.silent(now_ms):
            self._offline.add(band)
            last = self.zones.bands[band].last_heard
            out.append(
                DeviceEvent(
                    "band.link",
                    self.device,
                    {"band": band},
                    BandLink(state="offline", last_seen=last),
                    now_ms,
                    None,
                )
            )
        return out


@register_driver("wristband-rs485")
class WristbandRs485:
    """A serial RS-485 wristband receiver speaking the framed protocol of docs/devices.md."""

    Options = WristbandOptions

    def __init__(self, device: str, options: WristbandOptions) -> None:
        self.logic = WristbandLogic(device, options)
        self.decoder = WristbandDecoder()

    def feed(self, data: bytes, now_ms: int) -> list[DeviceEvent]:
        out = []
        for reading in self.decoder.feed(data):
            out += self.logic.reading(reading, now_ms)
        return out

    def tick(self, now_ms: int) -> list[DeviceEvent]:
        return self.logic.tick(now_ms)

    def errors(self) -> dict[str, int]:
        s = self.decoder.stats
        return {
            "dropped_bytes": s.dropped_bytes,
            "bad_crc": s.bad_crc,
            "bad_frames": s.bad_frames,
            "unknown_anchors": self.logic.unknown_anchors,
        }

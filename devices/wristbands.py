"""Wristband receivers as an agent device: bytes -> readings -> events the hub cares about.

Not every reading becomes an event: positions only when the band's anchor changes (after
hysteresis), vitals at most once per ``vitals_interval_s`` per band, tamper and battery (steps of
5 %) only when they change, every button press, and ``band.link`` when a band falls silent for
``offline_after_s`` or is heard again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from devices.band_zones import AnchorChange, BandZones
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
    settle_s: float = Field(
        1.0,
        ge=0,
        le=30,
        description="A band's first room: the strongest anchor heard this long after its first packet.",
    )
    offline_after_s: float = Field(30.0, gt=0, le=3600)
    vitals_interval_s: float = Field(10.0, ge=0, le=3600)

    @field_validator("anchors", mode="before")
    @classmethod
    def _anchor_ids_are_text(cls, value: Any) -> Any:
        """YAML reads ``4:`` as a number and ``010:`` as the number 8: an anchor id must be quoted."""
        if isinstance(value, dict) and any(not isinstance(k, str) for k in value):
            raise ValueError(
                "anchor ids are text: write each id exactly as the receiver reports it, in quotes "
                "('010': {room: …}); unquoted, YAML reads it as a number (010 becomes 8, 0x1A 26)"
            )
        return value


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
            margin_db=o.margin_db, hold_ms=int(o.hold_s * 1000), offline_ms=int(o.offline_after_s * 1000),
            settle_ms=int(o.settle_s * 1000),
        )  # fmt: skip
        self.areas = PolygonZones(
            {zone: list(p.points) for zone, p in o.polygons.items()}, hold_ms=int(o.hold_s * 1000)
        )

    def _zone_key(self, anchor: str) -> tuple[str | None, str | None]:
        place = self.options.anchors.get(anchor)
        if place is None:
            return None, None
        return place.room, place.zone or f"{place.room}-a{anchor}"

    def reading(self, reading: Reading, now_ms: int) -> list[DeviceEvent]:
        """The events one decoded reading gives: a band heard again after silence is back online,
        then whatever the reading says that is new (moves, vitals at most every interval, changes of
        tamper state, battery in 5 % steps, button presses)."""
        band = reading.band
        out = []
        if band in self._offline:
            self._offline.discard(band)
            out.append(
                DeviceEvent("band.link", self.device, {"band": band}, BandLink(state="online"), now_ms)
            )
        self.zones.heard(band, now_ms)
        found: DeviceEvent | None = None
        if isinstance(reading, BandLocated):
            found = self._located(reading, now_ms)
        elif isinstance(reading, BandSighting):
            found = self._sighted(reading, now_ms)
        elif isinstance(reading, BandVitalsReading):
            found = self._vitals(reading, now_ms)
        elif isinstance(reading, BandTamperReading):
            found = self._tampered(reading, now_ms)
        elif isinstance(reading, BandBatteryReading):
            found = self._battery_level(reading, now_ms)
        elif isinstance(reading, BandButtonReading):
            button = BandButton.model_validate({"button": min(reading.button, 15), "press": reading.press})
            found = DeviceEvent("band.button", self.device, {"band": band}, button, now_ms)
        return [*out, found] if found is not None else out

    def _located(self, reading: BandLocated, now_ms: int) -> DeviceEvent | None:
        """A UWB position: an event when the band moved into another polygon."""
        moved = self.areas.located(reading.band, reading.x, reading.y, now_ms)
        if moved is None:
            return None
        area = self.options.polygons[moved.zone].room
        located = BandPosition(zone=moved.zone, room=area, previous_zone=moved.previous, x=moved.x, y=moved.y)
        return DeviceEvent(
            "band.position", self.device, {"band": reading.band, "room": area}, located, now_ms, area
        )

    def _sighted(self, reading: BandSighting, now_ms: int) -> DeviceEvent | None:
        """An anchor heard the band: an event when the strongest anchor settles on another zone."""
        if reading.anchor not in self.options.anchors:
            self.unknown_anchors += 1
            return None
        change = self.zones.sighting(reading.band, reading.anchor, reading.rssi, now_ms)
        return None if change is None else self._position(change, now_ms)

    def _position(self, change: AnchorChange, now_ms: int) -> DeviceEvent:
        """The event of a band placed at (or moved to) an anchor's room and zone."""
        room, zone = self._zone_key(change.anchor)
        _, previous = self._zone_key(change.previous) if change.previous else (None, None)
        position = BandPosition(
            zone=zone, room=room, previous_zone=previous, anchor=change.anchor,
            rssi=max(-150, min(20, change.rssi)),
        )  # fmt: skip
        subject = {"band": change.band, **({"room": room} if room else {})}
        return DeviceEvent("band.position", self.device, subject, position, now_ms, room)

    def _vitals(self, reading: BandVitalsReading, now_ms: int) -> DeviceEvent | None:
        last = self._last_vitals.get(reading.band)
        if last is not None and now_ms - last < self.options.vitals_interval_s * 1000:
            return None
        self._last_vitals[reading.band] = now_ms
        data = BandVitals(
            heart_rate=reading.heart_rate, spo2=reading.spo2, temperature_c=reading.temperature_c
        )
        return DeviceEvent("band.vitals", self.device, {"band": reading.band}, data, now_ms)

    def _tampered(self, reading: BandTamperReading, now_ms: int) -> DeviceEvent | None:
        state = (reading.strap_open, reading.magnet)
        if self._tamper.get(reading.band) == state:
            return None
        self._tamper[reading.band] = state
        data = BandTamper(strap_open=state[0], magnet=state[1])
        return DeviceEvent("band.tamper", self.device, {"band": reading.band}, data, now_ms)

    def _battery_level(self, reading: BandBatteryReading, now_ms: int) -> DeviceEvent | None:
        last_percent = self._battery.get(reading.band)
        if last_percent is not None and abs(reading.percent - last_percent) < 5:
            return None
        self._battery[reading.band] = reading.percent
        battery = BandBattery(percent=reading.percent, millivolts=reading.millivolts)
        return DeviceEvent("band.battery", self.device, {"band": reading.band}, battery, now_ms)

    def tick(self, now_ms: int) -> list[DeviceEvent]:
        out = [self._position(change, now_ms) for change in self.zones.settled(now_ms)]
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

"""What device drivers read: typed readings, independent of any wire format or transport."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BandSighting:
    """A band heard by an anchor/receiver (BLE): the zone resolver turns sightings into rooms."""

    band: str
    anchor: str
    rssi: int


@dataclass(frozen=True)
class BandLocated:
    """A band located by a UWB engine at x/y (metres); polygons turn points into zones."""

    band: str
    x: float
    y: float


@dataclass(frozen=True)
class BandVitalsReading:
    band: str
    heart_rate: int | None
    spo2: int | None
    temperature_c: float | None


@dataclass(frozen=True)
class BandTamperReading:
    band: str
    strap_open: bool
    magnet: bool


@dataclass(frozen=True)
class BandBatteryReading:
    band: str
    percent: int
    millivolts: int | None


@dataclass(frozen=True)
class BandButtonReading:
    band: str
    button: int
    press: str  # short | long | double


Reading = (
    BandSighting
    | BandLocated
    | BandVitalsReading
    | BandTamperReading
    | BandBatteryReading
    | BandButtonReading
)

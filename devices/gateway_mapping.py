"""Turns a gateway's JSON into band readings through a field mapping from YAML.

Gateways differ only in where they put things: a Minew-style BLE gateway publishes an array of
sightings (``[{"type": "iBeacon", "mac": …, "rssi": …}, …]``, the gateway itself being the
anchor), a UWB engine ``{"tagId": …, "coordinates": {"x": …, "y": …}, "anchorData": […]}``, a
JSON-lines receiver one object a line. A mapping names, for each reading field, a dotted path in
a record (``coordinates.x``, ``anchorData.0.anchorId``), ``doc:PATH`` for a path from the top of
the document, or ``topic:N`` for level N of the MQTT topic. ``records`` says where the list of
records is (empty: the document itself, a list or one object); ``only`` keeps records whose fields
equal the given values. Pure: documents in, readings out, problems counted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from devices.readings import (
    BandBatteryReading,
    BandButtonReading,
    BandLocated,
    BandSighting,
    BandTamperReading,
    BandVitalsReading,
    Reading,
)

_NOT_KEY = re.compile(r"[^A-Za-z0-9_.-]")


class FieldMap(BaseModel):
    """``options.mapping`` of a JSON gateway: where each reading field is."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    records: str = Field("", description="dotted path to the list of records ('' = the document)")
    only: dict[str, str | int | bool] = Field(
        default_factory=dict, description="keep records with these values"
    )
    band: str = Field("tagId", description="band/tag id")
    anchor: str | None = Field(None, description="anchor/beacon/gateway id (BLE)")
    rssi: str | None = None
    x: str | None = Field(None, description="UWB x (metres)")
    y: str | None = Field(None, description="UWB y (metres)")
    heart_rate: str | None = None
    spo2: str | None = None
    temperature: str | None = None
    battery: str | None = Field(None, description="battery percent")
    strap_open: str | None = None
    magnet: str | None = None
    button: str | None = None


def band_key(raw: object) -> str | None:
    """A tag id as a protocol key: separators of MAC addresses dropped, upper case."""
    if raw is None or isinstance(raw, bool | dict | list):
        return None
    text = _NOT_KEY.sub("", str(raw)).upper()[:64]
    return text or None


def _walk(value: Any, path: str) -> Any:
    if path == "":
        return value
    for part in path.split("."):
        if isinstance(value, dict):
            value = value.get(part)
        elif isinstance(value, list) and part.lstrip("-").isdigit():
            index = int(part)
            value = value[index] if -len(value) <= index < len(value) else None
        else:
            return None
    return value


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if number == number and abs(number) != float("inf") else None


def _flag(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    if isinstance(value, str) and value.lower() in (
        "1",
        "true",
        "open",
        "on",
        "yes",
        "0",
        "false",
        "closed",
        "off",
        "no",
    ):
        return value.lower() in ("1", "true", "open", "on", "yes")
    return None


@dataclass
class GatewayMapping:
    fields: FieldMap
    bad_records: int = 0
    """records without a usable band id, or with values of the wrong type"""
    filtered: int = 0
    _errors: list[str] = field(default_factory=list)

    def _get(self, path: str | None, record: Any, document: Any, topic: list[str]) -> Any:
        if path is None:
            return None
        if path.startswith("topic:"):
            index = int(path[6:]) if path[6:].lstrip("-").isdigit() else 10**6
            return topic[index] if -len(topic) <= index < len(topic) else None
        if path.startswith("doc:"):
            return _walk(document, path[4:])
        return _walk(record, path)

    def readings(self, document: Any, topic: str = "") -> list[Reading]:
        levels = topic.split("/") if topic else []
        records = _walk(document, self.fields.records)
        if isinstance(records, dict):
            records = [records]
        if not isinstance(records, list):
            self.bad_records += 1
            return []
        out: list[Reading] = []
        for record in records:
            if not isinstance(record, dict):
                self.bad_records += 1
                continue
            if any(record.get(k) != v for k, v in self.fields.only.items()):
                self.filtered += 1
                continue
            out += self._record(record, document, levels)
        return out

    def _record(self, record: dict[str, Any], document: Any, topic: list[str]) -> list[Reading]:
        f = self.fields

        def get(path: str | None) -> Any:
            return self._get(path, record, document, topic)

        band = band_key(get(f.band))
        if band is None:
            self.bad_records += 1
            return []
        out: list[Reading] = []
        anchor, rssi = band_key(get(f.anchor)), _number(get(f.rssi))
        if anchor is not None and rssi is not None and -150 <= rssi <= 20:
            out.append(BandSighting(band, anchor, round(rssi)))
        x, y = _number(get(f.x)), _number(get(f.y))
        if x is not None and y is not None:
            out.append(BandLocated(band, x, y))
        hr, spo2, temp = _number(get(f.heart_rate)), _number(get(f.spo2)), _number(get(f.temperature))
        hr = hr if hr is not None and 0 <= hr <= 300 else None
        spo2 = spo2 if spo2 is not None and 0 <= spo2 <= 100 else None
        temp = temp if temp is not None and 20 <= temp <= 50 else None
        if hr is not None or spo2 is not None:
            out.append(
                BandVitalsReading(
                    band, None if hr is None else round(hr), None if spo2 is None else round(spo2), temp
                )
            )
        battery = _number(get(f.battery))
        if battery is not None and 0 <= battery <= 100:
            out.append(BandBatteryReading(band, round(battery), None))
        strap, magnet = _flag(get(f.strap_open)), _flag(get(f.magnet))
        if strap is not None or magnet is not None:
            out.append(BandTamperReading(band, bool(strap), bool(magnet)))
        button = _number(get(f.button))
        if button is not None and 1 <= button <= 15:
            out.append(BandButtonReading(band, int(button), "short"))
        if not out:
            self.bad_records += 1
        return out

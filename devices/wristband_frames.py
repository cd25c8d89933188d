"""The RS-485 wristband receiver protocol: frames, encoder and a resynchronising decoder (sans I/O).

Byte layout (docs/devices.md has the full table and examples)::

    AA 55 | LEN | TYPE | BAND (4, big-endian) | PAYLOAD | CRC16 (2, little-endian)

``LEN`` counts TYPE, BAND and PAYLOAD (5 + payload length); the CRC is CRC-16/MODBUS over LEN
through PAYLOAD. Types: 01 position (anchor u16 BE, rssi i8), 02 vitals (heart rate u8, SpO2 u8,
temperature u16 BE in 0.1 °C; 0xFF/0xFF/0xFFFF mean "not measured"), 03 tamper (flags: bit 0
strap open, bit 1 magnet), 04 battery (percent u8, millivolts u16 BE), 05 button (number u8,
press u8: 0 short, 1 long, 2 double). Band ids are written as 8 upper-case hex digits.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from devices.crc import crc16_modbus
from devices.readings import (
    BandBatteryReading,
    BandButtonReading,
    BandSighting,
    BandTamperReading,
    BandVitalsReading,
    Reading,
)

HEADER = b"\xaa\x55"
TYPE_POSITION, TYPE_VITALS, TYPE_TAMPER, TYPE_BATTERY, TYPE_BUTTON = 1, 2, 3, 4, 5
PAYLOAD_SIZES = {TYPE_POSITION: 3, TYPE_VITALS: 4, TYPE_TAMPER: 1, TYPE_BATTERY: 3, TYPE_BUTTON: 2}
PRESSES = ("short", "long", "double")
MAX_FRAME = 2 + 1 + 5 + max(PAYLOAD_SIZES.values()) + 2


def band_id(number: int) -> str:
    return f"{number:08X}"


def frame(kind: int, band: int, payload: bytes) -> bytes:
    body = bytes([5 + len(payload), kind]) + struct.pack(">I", band) + payload
    return HEADER + body + struct.pack("<H", crc16_modbus(body))


def encode(reading: Reading) -> bytes:
    """The frame a receiver sends for a reading (used by the simulator and tests)."""
    band = int(reading.band, 16)
    if isinstance(reading, BandSighting):
        return frame(TYPE_POSITION, band, struct.pack(">Hb", int(reading.anchor), reading.rssi))
    if isinstance(reading, BandVitalsReading):
        hr = 0xFF if reading.heart_rate is None else reading.heart_rate
        spo2 = 0xFF if reading.spo2 is None else reading.spo2
        temp = 0xFFFF if reading.temperature_c is None else round(reading.temperature_c * 10)
        return frame(TYPE_VITALS, band, struct.pack(">BBH", hr, spo2, temp))
    if isinstance(reading, BandTamperReading):
        return frame(TYPE_TAMPER, band, bytes([int(reading.strap_open) | int(reading.magnet) << 1]))
    if isinstance(reading, BandBatteryReading):
        return frame(TYPE_BATTERY, band, struct.pack(">BH", reading.percent, reading.millivolts or 0))
    if isinstance(reading, BandButtonReading):
        return frame(TYPE_BUTTON, band, bytes([reading.button, PRESSES.index(reading.press)]))
    raise ValueError(f"the RS-485 receiver protocol has no record for {type(reading).__name__}")


def _parse(kind: int, band: str, payload: bytes) -> Reading | None:
    if kind == TYPE_POSITION:
        anchor, rssi = struct.unpack(">Hb", payload)
        return BandSighting(band, str(anchor), rssi)
    if kind == TYPE_VITALS:
        hr, spo2, temp = struct.unpack(">BBH", payload)
        return BandVitalsReading(
            band,
            None if hr == 0xFF else hr,
            None if spo2 == 0xFF else min(spo2, 100),
            None if temp == 0xFFFF else temp / 10,
        )
    if kind == TYPE_TAMPER:
        return BandTamperReading(band, bool(payload[0] & 1), bool(payload[0] & 2))
    if kind == TYPE_BATTERY:
        percent, mv = struct.unpack(">BH", payload)
        return BandBatteryReading(band, min(percent, 100), mv or None)
    if kind == TYPE_BUTTON:
        if payload[1] >= len(PRESSES):
            return None
        return BandButtonReading(band, payload[0], PRESSES[payload[1]])
    return None


@dataclass
class DecoderStats:
    frames: int = 0
    dropped_bytes: int = 0
    bad_crc: int = 0
    bad_frames: int = 0


class WristbandDecoder:
    """``feed(bytes) -> readings``: frames split across reads are joined, garbage is skipped and
    counted, a frame with a bad CRC is dropped and the search resumes one byte later."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self.stats = DecoderStats()

    def feed(self, data: bytes) -> list[Reading]:
        self._buffer += data
        out: list[Reading] = []
        buf = self._buffer
        while True:
            start = buf.find(HEADER)
            if start < 0:
                keep = 1 if buf[-1:] == HEADER[:1] else 0
                self.stats.dropped_bytes += len(buf) - keep
                del buf[: len(buf) - keep]
                break
            if start:
                self.stats.dropped_bytes += start
                del buf[:start]
            if len(buf) < 3:
                break
            length = buf[2]
            kind = buf[3] if len(buf) > 3 else None
            if (
                length < 5
                or (kind is not None and kind in PAYLOAD_SIZES and length != 5 + PAYLOAD_SIZES[kind])
                or (kind is not None and kind not in PAYLOAD_SIZES)
            ):
                self.stats.bad_frames += 1
                self.stats.dropped_bytes += 1
                del buf[:1]
                continue
            total = 2 + 1 + length + 2
            if len(buf) < total:
                break
            body = bytes(buf[2 : 3 + length])
            (crc,) = struct.unpack("<H", buf[3 + length : total])
            if crc != crc16_modbus(body):
                self.stats.bad_crc += 1
                self.stats.dropped_bytes += 1
                del buf[:1]
                continue
            del buf[:total]
            band = band_id(struct.unpack(">I", body[2:6])[0])
            reading = _parse(body[1], band, body[6:])
            if reading is None:
                self.stats.bad_frames += 1
                continue
            self.stats.frames += 1
            out.append(reading)
        return out

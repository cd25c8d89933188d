"""A fingerprint module's far end (EF01 family): answers command packets like the real one."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from devices.fingerprint import (
    GEN_IMG,
    IMG2TZ,
    PID_ACK,
    PID_COMMAND,
    REG_MODEL,
    SEARCH,
    STORE,
    FingerprintDecoder,
    packet,
)


@dataclass
class SimulatedModule:
    """A fingerprint module for tests and the demo: answers command packets like the real one."""

    enrolled: dict[str, int] = field(default_factory=dict)
    """finger name -> page"""
    finger: str | None = None
    """The finger on the sensor now (None: nothing), e.g. "officer-P1001"."""
    capacity: int = 300
    _image: str | None = None
    _features: dict[int, str | None] = field(default_factory=dict)
    _model: str | None = None
    decoder: FingerprintDecoder = field(default_factory=FingerprintDecoder)

    def _ack(self, code: int, extra: bytes = b"") -> bytes:
        return packet(PID_ACK, bytes([code]) + extra)

    def respond(self, data: bytes) -> bytes:
        out = b""
        for request in self.decoder.feed(data):
            if request.pid != PID_COMMAND:
                out += self._ack(0x01)
            elif request.code == GEN_IMG:
                self._image = self.finger
                out += self._ack(0x00 if self.finger else 0x02)
            elif request.code == IMG2TZ and len(request.payload) == 2:
                self._features[request.payload[1]] = self._image
                out += self._ack(0x00 if self._image else 0x03)
            elif request.code == SEARCH:
                page = self.enrolled.get(self._features.get(1) or "")
                out += self._ack(0x09) if page is None else self._ack(0x00, struct.pack(">HH", page, 100))
            elif request.code == REG_MODEL:
                one, two = self._features.get(1), self._features.get(2)
                self._model = one if one is not None and one == two else None
                out += self._ack(0x00 if self._model else 0x0A)  # 0A: could not combine
            elif request.code == STORE and len(request.payload) == 4:
                page = struct.unpack(">H", request.payload[2:4])[0]
                if page >= self.capacity:
                    out += self._ack(0x0B)
                elif self._model is None:
                    out += self._ack(0x01)
                else:
                    self.enrolled[self._model] = page
                    out += self._ack(0x00)
            else:
                out += self._ack(0x01)
        return out

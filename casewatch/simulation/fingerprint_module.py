"""A fingerprint module's far end (EF01 family): answers command packets like the real one,
including a module password (commands refused with 0x21 until VfyPwd), a module address (packets
to another address are ignored), the library index, deletion and the system parameters."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from devices.fingerprint import (
    DEFAULT_ADDRESS,
    DELETE,
    EMPTY,
    GEN_IMG,
    IMG2TZ,
    INDEX_PAGE_SIZE,
    PID_ACK,
    PID_COMMAND,
    READ_INDEX_TABLE,
    READ_SYS_PARA,
    REG_MODEL,
    SEARCH,
    STORE,
    TEMPLATE_NUM,
    VERIFY_PASSWORD,
    FingerprintDecoder,
    Packet,
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
    password: int = 0
    address: int = DEFAULT_ADDRESS
    verified: bool = False
    commands: list[int] = field(default_factory=list)
    """every instruction code received, in order (what tests check)"""
    _image: str | None = None
    _features: dict[int, str | None] = field(default_factory=dict)
    _model: str | None = None
    decoder: FingerprintDecoder = field(default_factory=FingerprintDecoder)

    def _ack(self, code: int, extra: bytes = b"") -> bytes:
        return packet(PID_ACK, bytes([code]) + extra, self.address)

    def respond(self, data: bytes) -> bytes:
        out = b""
        for request in self.decoder.feed(data):
            if request.address != self.address:
                continue  # another module's packet (or a wrong address): silence
            if request.pid != PID_COMMAND:
                out += self._ack(0x01)
                continue
            self.commands.append(request.code)
            if request.code == VERIFY_PASSWORD and len(request.payload) == 5:
                self.verified = struct.unpack(">I", request.payload[1:5])[0] == self.password
                out += self._ack(0x00 if self.verified else 0x13)
            elif self.password and not self.verified:
                out += self._ack(0x21)  # must verify the password first
            else:
                out += self._command(request)
        return out

    def _command(self, request: Packet) -> bytes:
        code, params = request.code, request.payload[1:]
        if code == GEN_IMG:
            self._image = self.finger
            return self._ack(0x00 if self.finger else 0x02)
        if code == IMG2TZ and len(params) == 1:
            self._features[params[0]] = self._image
            return self._ack(0x00 if self._image else 0x03)
        if code == SEARCH and len(params) == 5:
            buffer, start, count = struct.unpack(">BHH", params)
            page = self.enrolled.get(self._features.get(buffer) or "")
            if page is None or not start <= page < start + count:
                return self._ack(0x09)
            return self._ack(0x00, struct.pack(">HH", page, 100))
        if code == REG_MODEL:
            one, two = self._features.get(1), self._features.get(2)
            self._model = one if one is not None and one == two else None
            return self._ack(0x00 if self._model else 0x0A)  # 0A: could not combine
        if code == STORE and len(params) == 3:
            return self._store(struct.unpack(">H", params[1:3])[0])
        return self._library(code, params)

    def _store(self, page: int) -> bytes:
        if page >= self.capacity:
            return self._ack(0x0B)
        if self._model is None:
            return self._ack(0x01)
        self.enrolled = {name: p for name, p in self.enrolled.items() if p != page}  # overwritten
        self.enrolled[self._model] = page
        return self._ack(0x00)

    def _library(self, code: int, params: bytes) -> bytes:
        if code == TEMPLATE_NUM:
            return self._ack(0x00, struct.pack(">H", len(self.enrolled)))
        if code == READ_SYS_PARA:
            fields = (0, 0x0009, self.capacity, 3, self.address, 2, 6)  # 57600 = 6 × 9600
            return self._ack(0x00, struct.pack(">HHHHIHH", *fields))
        if code == READ_INDEX_TABLE and len(params) == 1:
            table = bytearray(32)
            for page in self.enrolled.values():
                if page // INDEX_PAGE_SIZE == params[0]:
                    offset = page % INDEX_PAGE_SIZE
                    table[offset // 8] |= 1 << (offset % 8)
            return self._ack(0x00, bytes(table))
        if code == DELETE and len(params) == 4:
            start, count = struct.unpack(">HH", params)
            if start + count > self.capacity:
                return self._ack(0x10)
            self.enrolled = {n: p for n, p in self.enrolled.items() if not start <= p < start + count}
            return self._ack(0x00)
        if code == EMPTY:
            self.enrolled.clear()
            return self._ack(0x00)
        return self._ack(0x01)

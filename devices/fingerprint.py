"""Fingerprint modules of the R30x / R503 / ZFM-20 / AS608 family (UART, 57600 8N1), sans I/O.

Packet::

    EF 01 | ADDR (4) | PID (1) | LEN (2) = payload + 2 | PAYLOAD | SUM (2)      all big-endian
    PID 01 command, 02 data, 07 acknowledge, 08 last data;
    SUM = (PID + LEN_hi + LEN_lo + sum of payload) & 0xFFFF

``Identify`` is the matching dialogue as a small state machine: GenImg until a finger is on the
sensor, Img2Tz into buffer 1, Search the library; the module answers with a page number, which the
cabinet maps to an officer (the module knows pages only). Nothing here reads or writes a port.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

HEADER = b"\xef\x01"
DEFAULT_ADDRESS = 0xFFFFFFFF
PID_COMMAND, PID_DATA, PID_ACK, PID_END = 0x01, 0x02, 0x07, 0x08

GEN_IMG, IMG2TZ, MATCH, SEARCH, REG_MODEL, STORE = 0x01, 0x02, 0x03, 0x04, 0x05, 0x06
DELETE, EMPTY, READ_SYS_PARA, VERIFY_PASSWORD, TEMPLATE_NUM = 0x0C, 0x0D, 0x0F, 0x13, 0x1D

ACK_TEXT = {
    0x00: "ok",
    0x01: "packet error",
    0x02: "no finger",
    0x03: "capture failed",
    0x06: "image too messy",
    0x07: "too few features",
    0x08: "no match",
    0x09: "not found",
    0x0A: "could not combine the two captures",
    0x0B: "page out of range",
    0x13: "wrong password",
}


def checksum(pid: int, length: int, payload: bytes) -> int:
    return (pid + (length >> 8) + (length & 0xFF) + sum(payload)) & 0xFFFF


def packet(pid: int, payload: bytes, address: int = DEFAULT_ADDRESS) -> bytes:
    length = len(payload) + 2
    return (
        HEADER
        + struct.pack(">IBH", address, pid, length)
        + payload
        + struct.pack(">H", checksum(pid, length, payload))
    )


def command(code: int, params: bytes = b"", address: int = DEFAULT_ADDRESS) -> bytes:
    return packet(PID_COMMAND, bytes([code]) + params, address)


def gen_img() -> bytes:
    return command(GEN_IMG)


def img2tz(buffer: int) -> bytes:
    return command(IMG2TZ, bytes([buffer]))


def search(buffer: int, start: int, count: int) -> bytes:
    return command(SEARCH, struct.pack(">BHH", buffer, start, count))


def reg_model() -> bytes:
    return command(REG_MODEL)


def store(buffer: int, page: int) -> bytes:
    return command(STORE, struct.pack(">BH", buffer, page))


@dataclass(frozen=True)
class Packet:
    address: int
    pid: int
    payload: bytes

    @property
    def code(self) -> int:
        """The confirmation code of an acknowledgement (or the instruction of a command)."""
        return self.payload[0] if self.payload else 0xFF

    @property
    def text(self) -> str:
        return ACK_TEXT.get(self.code, f"code 0x{self.code:02X}")


@dataclass
class FingerprintDecoder:
    """``feed(bytes) -> packets``; resynchronises on garbage, drops bad checksums (counted)."""

    dropped_bytes: int = 0
    bad_checksums: int = 0
    _buffer: bytearray = field(default_factory=bytearray)

    def feed(self, data: bytes) -> list[Packet]:
        buf = self._buffer
        buf += data
        out: list[Packet] = []
        while True:
            start = buf.find(HEADER)
            if start < 0:
                keep = 1 if buf[-1:] == HEADER[:1] else 0
                self.dropped_bytes += len(buf) - keep
                del buf[: len(buf) - keep]
                return out
            self.dropped_bytes += start
            del buf[:start]
            if len(buf) < 9:
                return out
            address, pid, length = struct.unpack(">IBH", buf[2:9])
            if pid not in (PID_COMMAND, PID_DATA, PID_ACK, PID_END) or not 2 <= length <= 258:
                self.dropped_bytes += 1
                del buf[:1]
                continue
            total = 9 + length
            if len(buf) < total:
                return out
            payload = bytes(buf[9 : total - 2])
            (received,) = struct.unpack(">H", buf[total - 2 : total])
            if received != checksum(pid, length, payload):
                self.bad_checksums += 1
                self.dropped_bytes += 1
                del buf[:1]
                continue
            del buf[:total]
            out.append(Packet(address, pid, payload))


def search_result(ack: Packet) -> tuple[int, int] | None:
    """(page, score) of a successful Search acknowledgement."""
    if ack.pid != PID_ACK or ack.code != 0 or len(ack.payload) < 5:
        return None
    page, score = struct.unpack(">HH", ack.payload[1:5])
    return page, score


@dataclass(frozen=True)
class Matched:
    page: int
    score: int


@dataclass(frozen=True)
class NotMatched:
    reason: str


@dataclass
class Identify:
    """The identify dialogue: ``start()`` gives the first command; ``answer(ack)`` gives the next
    command, or the outcome (``Matched``/``NotMatched``) once there is one."""

    library_size: int = 300
    max_polls: int = 50
    _step: str = "gen_img"
    _polls: int = 0

    def start(self) -> bytes:
        self._step, self._polls = "gen_img", 1
        return gen_img()

    def answer(self, ack: Packet) -> bytes | Matched | NotMatched:
        if ack.pid != PID_ACK:
            return NotMatched(f"unexpected packet type 0x{ack.pid:02X}")
        if self._step == "gen_img":
            if ack.code == 0x02:  # no finger yet: poll again
                if self._polls >= self.max_polls:
                    return NotMatched("no finger")
                self._polls += 1
                return gen_img()
            if ack.code != 0:
                return NotMatched(ack.text)
            self._step = "img2tz"
            return img2tz(1)
        if self._step == "img2tz":
            if ack.code != 0:
                return NotMatched(ack.text)
            self._step = "search"
            return search(1, 0, self.library_size)
        result = search_result(ack)
        if result is None:
            return NotMatched(ack.text)
        return Matched(*result)


@dataclass(frozen=True)
class Enrolled:
    page: int


@dataclass
class Enrol:
    """The enrolment dialogue: two captures of the same finger (GenImg, Img2Tz into buffers 1 and
    2), RegModel merges them, Store writes the template at ``page``. Same shape as ``Identify``."""

    page: int
    max_polls: int = 100
    _step: str = "gen_img"
    _buffer: int = 1
    _polls: int = 0

    def start(self) -> bytes:
        self._step, self._buffer, self._polls = "gen_img", 1, 1
        return gen_img()

    def answer(self, ack: Packet) -> bytes | Enrolled | NotMatched:
        if ack.pid != PID_ACK:
            return NotMatched(f"unexpected packet type 0x{ack.pid:02X}")
        if self._step == "gen_img":
            if ack.code == 0x02:
                if self._polls >= self.max_polls:
                    return NotMatched("no finger")
                self._polls += 1
                return gen_img()
            if ack.code != 0:
                return NotMatched(ack.text)
            self._step = "img2tz"
            return img2tz(self._buffer)
        if ack.code != 0:
            return NotMatched(ack.text)
        if self._step == "img2tz":
            if self._buffer == 1:
                self._step, self._buffer, self._polls = "gen_img", 2, 1
                return gen_img()
            self._step = "reg_model"
            return reg_model()
        if self._step == "reg_model":
            self._step = "store"
            return store(1, self.page)
        return Enrolled(self.page)

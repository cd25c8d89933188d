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
READ_INDEX_TABLE = 0x1F
INDEX_PAGE_SIZE = 256  # templates per ReadIndexTable page (32 bytes, bit 0 of byte 0 = template 0)

ACK_TEXT = {
    0x00: "ok",
    0x01: "packet error",
    0x02: "no finger",
    0x03: "capture failed",
    0x04: "image too dry or faint",
    0x05: "image too wet or blurred",
    0x06: "image too messy",
    0x07: "too few features",
    0x08: "no match",
    0x09: "not found",
    0x0A: "could not combine the two captures",
    0x0B: "page out of range",
    0x0C: "template unreadable",
    0x10: "could not delete the template",
    0x11: "could not empty the library",
    0x13: "wrong password",
    0x15: "no valid image in the buffer",
    0x18: "flash read/write error",
    0x19: "undefined error",
    0x1A: "invalid register number",
    0x1F: "library full",
    0x20: "wrong address",
    0x21: "the password must be verified first",
}
REFUSALS = frozenset({0x13, 0x20, 0x21})
"""codes that mean the module refuses us (password, address): no finger will ever be read"""


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


def readdress(request: bytes, address: int) -> bytes:
    """The same packet sent to another module address (the checksum does not cover it)."""
    return request[:2] + struct.pack(">I", address) + request[6:]


def verify_password(password: int) -> bytes:
    return command(VERIFY_PASSWORD, struct.pack(">I", password))


def read_sys_para() -> bytes:
    return command(READ_SYS_PARA)


def template_num() -> bytes:
    return command(TEMPLATE_NUM)


def read_index_table(index_page: int) -> bytes:
    return command(READ_INDEX_TABLE, bytes([index_page]))


def delete(page: int, count: int = 1) -> bytes:
    return command(DELETE, struct.pack(">HH", page, count))


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
    code: int | None = None
    """the module's confirmation code, when it gave one"""

    @property
    def refused(self) -> bool:
        return self.code in REFUSALS


def refusal(ack: Packet) -> NotMatched:
    return NotMatched(ack.text, ack.code)


def used_pages(ack: Packet, index_page: int) -> list[int]:
    """The pages a ReadIndexTable acknowledgement marks as holding a template."""
    table = ack.payload[1:33]
    return [
        index_page * INDEX_PAGE_SIZE + byte * 8 + bit
        for byte, value in enumerate(table)
        for bit in range(8)
        if value >> bit & 1
    ]


@dataclass(frozen=True)
class SystemParameters:
    """ReadSysPara: what the probe and ``fingers list`` show."""

    capacity: int
    security_level: int
    address: int
    baud: int


def system_parameters(ack: Packet) -> SystemParameters | None:
    if ack.code != 0 or len(ack.payload) < 17:
        return None
    _status, _system, capacity, level, address, _size, baud = struct.unpack(">HHHHIHH", ack.payload[1:17])
    return SystemParameters(capacity, level, address, baud * 9600)


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
                return refusal(ack)
            self._step = "img2tz"
            return img2tz(1)
        if self._step == "img2tz":
            if ack.code != 0:
                return refusal(ack)
            self._step = "search"
            return search(1, 0, self.library_size)
        result = search_result(ack)
        if result is None:
            return refusal(ack)
        return Matched(*result)


@dataclass(frozen=True)
class Later:
    """Send ``request`` after ``delay_s`` (a dialogue polling the sensor)."""

    delay_s: float
    request: bytes

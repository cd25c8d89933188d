"""The Kerong CU16 lock-board frames (``02 ADDR CMD [DATA] 03 SUM``), sans I/O.

Widely sold 16-lock controller boards for lockers and file cabinets, RS-485, 19200 8N1 by
default. ``ADDR``: high nibble = the board's DIP address (0–15), low nibble = the lock, counted
from 0. ``SUM`` = the low byte of the arithmetic sum of every byte from STX (02) through ETX (03).

- ``30`` read status → reply ``35``: ``02 ADDR 35 H1 H2 I1 I2 03 SUM`` — H1/H2 the lock hooks
  1–8 / 9–16 (bit 0 = lock 1; 1 = hook engaged: locked, door shut), I1/I2 the infrared slot
  sensors 1–8 / 9–16 (1 = something in the slot).
- ``31`` unlock one lock (the board times the pulse itself); answered with a status reply.
- ``33`` unlock all, ``32`` status of every board on the bus — not used by casewatch.

Facts from public code and notes about these boards (docs/devices.md names them); confirm the
polarity on the real board with ``casewatch cabinet probe``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

STX, ETX = 0x02, 0x03
READ_STATUS, UNLOCK, QUERY_BUS, UNLOCK_ALL, STATUS = 0x30, 0x31, 0x32, 0x33, 0x35
LOCKS = 16
LENGTHS = {READ_STATUS: 5, UNLOCK: 5, QUERY_BUS: 5, UNLOCK_ALL: 5, STATUS: 9}
"""whole frame length by command byte"""


def checksum(body: bytes) -> int:
    return sum(body) & 0xFF


def frame(address: int, command: int, data: bytes = b"") -> bytes:
    body = bytes([STX, address, command]) + data + bytes([ETX])
    return body + bytes([checksum(body)])


def read_status(board: int) -> bytes:
    return frame(board << 4, READ_STATUS)


def unlock(board: int, lock: int) -> bytes:
    """``lock`` counted from 0 (lock 1 on the board's label is 0)."""
    if not 0 <= lock < LOCKS:
        raise ValueError(f"lock {lock} is not on a {LOCKS}-lock board (0–{LOCKS - 1})")
    return frame(board << 4 | lock, UNLOCK)


def status_reply(board: int, hooks: list[bool], sensors: list[bool]) -> bytes:
    def pack(bits: list[bool]) -> bytes:
        value = sum(1 << i for i, on in enumerate(bits[:LOCKS]) if on)
        return bytes([value & 0xFF, value >> 8])

    return frame(board << 4, STATUS, pack(hooks) + pack(sensors))


@dataclass(frozen=True)
class Frame:
    address: int
    command: int
    data: bytes

    @property
    def board(self) -> int:
        return self.address >> 4

    @property
    def lock(self) -> int:
        return self.address & 0x0F

    def inputs(self) -> list[bool]:
        """A status reply as 32 inputs: hooks of locks 0–15, then the slot sensors 0–15."""
        h1, h2, i1, i2 = self.data
        hooks, sensors = h1 | h2 << 8, i1 | i2 << 8
        return [bool(hooks >> i & 1) for i in range(LOCKS)] + [bool(sensors >> i & 1) for i in range(LOCKS)]


@dataclass
class KerongDecoder:
    """``feed(bytes) -> frames``; resynchronises on noise, drops (and counts) bad sums."""

    dropped_bytes: int = 0
    bad_checksums: int = 0
    _buffer: bytearray = field(default_factory=bytearray)

    def feed(self, data: bytes) -> list[Frame]:
        buf = self._buffer
        buf += data
        out: list[Frame] = []
        while True:
            start = buf.find(STX)
            if start < 0:
                self.dropped_bytes += len(buf)
                buf.clear()
                return out
            self.dropped_bytes += start
            del buf[:start]
            if len(buf) < 3:
                return out
            length = LENGTHS.get(buf[2])
            if length is None:
                self.dropped_bytes += 1
                del buf[:1]
                continue
            if len(buf) < length:
                return out
            candidate = bytes(buf[:length])
            if candidate[-2] != ETX or candidate[-1] != checksum(candidate[:-1]):
                self.bad_checksums += 1
                self.dropped_bytes += 1
                del buf[:1]
                continue
            del buf[:length]
            out.append(Frame(candidate[1], candidate[2], candidate[3:-2]))

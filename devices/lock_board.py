"""Lock/IO boards of dossier cabinets, behind one small interface so the codec stays pluggable.

The cabinet needs two things from a board: read N inputs (door contacts, slot sensors) and switch
a coil (a slot's lock). ``ModbusLockBoard`` does both over Modbus RTU with pymodbus (FC 02 read
discrete inputs, FC 05 write single coil; the port is any pyserial URL). Boards of the
``02 ADDR CMD 03 SUM8`` families would be another class with the same two methods.

``SimulatedModbusBoard`` is the other end for tests, the demo and ``casewatch sim cabinet``: it
answers request frames with pymodbus's own RTU framer and PDU classes, and models the cabinet's
hardware (a lock pulsed open lets its door open; doors and slots move when a script says so).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from pymodbus.client import ModbusSerialClient
from pymodbus.exceptions import ModbusException
from pymodbus.framer import FramerRTU
from pymodbus.pdu import ExceptionResponse, ModbusPDU
from pymodbus.pdu.bit_message import (
    ReadCoilsRequest,
    ReadCoilsResponse,
    ReadDiscreteInputsRequest,
    ReadDiscreteInputsResponse,
    WriteSingleCoilRequest,
    WriteSingleCoilResponse,
)
from pymodbus.pdu.decoders import DecodePDU

from foundation.errors import DeviceError

log = logging.getLogger(__name__)
# pymodbus logs every failed poll itself; BoardError carries the same reason with context.
logging.getLogger("pymodbus").setLevel(logging.CRITICAL)

ILLEGAL_FUNCTION, ILLEGAL_ADDRESS = 0x01, 0x02
MAX_BUFFER = 512  # two maximal RTU frames: older bytes cannot belong to a pending request


class BoardError(DeviceError):
    """The board did not answer, answered an exception, or the port is gone."""


class LockBoard(Protocol):
    def read_inputs(self, start: int, count: int) -> list[bool]: ...

    def set_coil(self, coil: int, on: bool) -> None: ...

    def close(self) -> None: ...


class ModbusLockBoard:
    """A Modbus RTU board; every failure is a ``BoardError`` with the reason."""

    def __init__(self, url: str, *, unit: int = 1, baudrate: int = 9600, timeout_s: float = 0.5) -> None:
        self.url = url
        self.unit = unit
        self.client = ModbusSerialClient(url, baudrate=baudrate, timeout=timeout_s, retries=1, name=url)

    def connect(self) -> None:
        if not self.client.connect():
            raise BoardError(f"cannot open lock board port {self.url}")

    def _drop(self) -> None:
        self.client.close()  # type: ignore[no-untyped-call]

    def _call(self, what: str, call: Callable[[], ModbusPDU]) -> ModbusPDU:
        if not self.client.connected:
            self.connect()
        try:
            response = call()
        except ModbusException as exc:
            self._drop()
            raise BoardError(f"lock board {self.url} unit {self.unit}: {what}: {exc}") from exc
        except (OSError, ValueError) as exc:  # the port vanished under pymodbus
            self._drop()
            raise BoardError(f"lock board {self.url}: {what}: {exc}") from exc
        if response.isError():
            code = getattr(response, "exception_code", "?")
            raise BoardError(f"lock board {self.url} unit {self.unit}: {what}: exception code {code}")
        return response

    def read_inputs(self, start: int, count: int) -> list[bool]:
        response = self._call(
            f"read inputs {start}+{count}",
            lambda: self.client.read_discrete_inputs(start, count=count, device_id=self.unit),
        )
        return [bool(b) for b in response.bits[:count]]

    def set_coil(self, coil: int, on: bool) -> None:
        self._call(
            f"coil {coil} {'on' if on else 'off'}",
            lambda: self.client.write_coil(coil, on, device_id=self.unit),
        )

    def close(self) -> None:
        self._drop()


@dataclass
class SimulatedModbusBoard:
    """A lock board's far end: feed it request bytes, send back what it answers.

    ``doors``/``occupied`` hold the inputs a script sets; ``door_input``/``slot_input`` give where
    each slot's contacts sit. A coil switched on unlocks its slot until ``relock()``.
    """

    unit: int = 1
    inputs: list[bool] = field(default_factory=lambda: [False] * 64)
    coils: list[bool] = field(default_factory=lambda: [False] * 32)
    pulses: list[int] = field(default_factory=list)
    """every coil switched on, in order (what the tests check)"""
    requests: int = 0
    _decoder: DecodePDU = field(default_factory=lambda: DecodePDU(is_server=True))
    _framer: FramerRTU = field(init=False)
    _buffer: bytes = b""

    def __post_init__(self) -> None:
        self._framer = FramerRTU(self._decoder)

    def respond(self, data: bytes) -> bytes:
        """Answer every complete request in what has arrived. pymodbus's RTU framer relies on
        the silence between frames and throws a whole burst away on a bad CRC; here a frame is
        looked for at every offset instead, so noise before a request costs only the noise."""
        self._buffer = (self._buffer + data)[-MAX_BUFFER:]
        out = b""
        while self._buffer:
            found = self._next_request()
            if found is None:
                break
            request, end = found
            self._buffer = self._buffer[end:]
            self.requests += 1
            if request.dev_id == self.unit:  # other units on the bus answer for themselves
                out += self._framer.buildFrame(self._answer(request))
        return out

    def _next_request(self) -> tuple[ModbusPDU, int] | None:
        buf = self._buffer
        for start in range(len(buf) - 3):
            if buf[start + 1] & 0x80:
                continue  # an exception response is never a request
            cls = self._decoder.lookupPduClass(buf[start:])
            if cls is None:
                continue
            size = cls.calculateRtuFrameSize(buf[start:])
            if not size or start + size > len(buf):
                continue  # not a frame here, or not complete yet
            frame = buf[start : start + size]
            if FramerRTU.compute_CRC(frame[:-2]) != int.from_bytes(frame[-2:], "big"):
                continue
            try:
                _, request = self._framer.handleFrame(frame, 0, 0)
            except ModbusException:
                continue
            if request is not None:
                return request, start + size
        return None

    def _answer(self, request: ModbusPDU) -> ModbusPDU:
        unit, address, count = request.dev_id, request.address, request.count
        if isinstance(request, ReadDiscreteInputsRequest | ReadCoilsRequest):
            table = self.inputs if isinstance(request, ReadDiscreteInputsRequest) else self.coils
            if address + count > len(table) or count < 1:
                return ExceptionResponse(request.function_code, ILLEGAL_ADDRESS, device_id=unit)
            cls = (
                ReadDiscreteInputsResponse
                if isinstance(request, ReadDiscreteInputsRequest)
                else ReadCoilsResponse
            )
            return cls(bits=table[address : address + count], dev_id=unit)
        if isinstance(request, WriteSingleCoilRequest):
            if address >= len(self.coils):
                return ExceptionResponse(request.function_code, ILLEGAL_ADDRESS, device_id=unit)
            on = bool(request.bits[0])
            if on and not self.coils[address]:
                self.pulses.append(address)
            self.coils[address] = on
            return WriteSingleCoilResponse(address=address, bits=[on], dev_id=unit)
        return ExceptionResponse(request.function_code, ILLEGAL_FUNCTION, device_id=unit)

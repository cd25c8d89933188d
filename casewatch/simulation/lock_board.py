"""A Modbus RTU lock board's far end for tests, the demo and ``casewatch sim cabinet``.

It answers request frames with pymodbus's own RTU framer and PDU classes; the cabinet simulator
models the hardware around it (a lock pulsed open lets its door open; doors and slots move when a
script says so).
"""

from __future__ import annotations

from dataclasses import dataclass, field

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

from devices.lock_board import ILLEGAL_ADDRESS, ILLEGAL_FUNCTION, MAX_BUFFER


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

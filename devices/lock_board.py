"""Lock/IO boards of dossier cabinets, behind one small interface so the codec stays pluggable.

The cabinet needs two things from a board: read N inputs (door contacts, slot sensors) and switch
a coil (a slot's lock). ``ModbusLockBoard`` does both over Modbus RTU with pymodbus (FC 02 read
discrete inputs, FC 05 write single coil; the port is any pyserial URL). Boards of the
``02 ADDR CMD 03 SUM8`` families would be another class with the same two methods.

The other end for tests, the demo and ``casewatch sim cabinet`` is
``casewatch/simulation/lock_board.py``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

from pymodbus.client import ModbusSerialClient
from pymodbus.exceptions import ModbusException
from pymodbus.pdu import ModbusPDU

from foundation.errors import DeviceError

log = logging.getLogger(__name__)
# pymodbus logs every failed poll itself; BoardError carries the same reason with context.
logging.getLogger("pymodbus").setLevel(logging.CRITICAL)

ILLEGAL_FUNCTION, ILLEGAL_ADDRESS = 0x01, 0x02
MAX_BUFFER = 512  # two maximal RTU frames: older bytes cannot belong to a pending request


class BoardError(DeviceError):
    """The board did not answer, answered an exception, or the port is gone."""


class LockBoard(Protocol):
    """What a cabinet needs of a board: its input levels (raw: polarity is the wiring's), and a
    lock opened for a pulse (``release_lock`` ends it; a board that times pulses itself ignores it)."""

    def read_inputs(self, start: int, count: int) -> list[bool]: ...

    def open_lock(self, lock: int) -> None: ...

    def release_lock(self, lock: int) -> None: ...

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

    def read_coils(self, start: int, count: int) -> list[bool]:
        response = self._call(
            f"read coils {start}+{count}",
            lambda: self.client.read_coils(start, count=count, device_id=self.unit),
        )
        return [bool(b) for b in response.bits[:count]]

    def open_lock(self, lock: int) -> None:
        self.set_coil(lock, True)

    def release_lock(self, lock: int) -> None:
        self.set_coil(lock, False)

    def close(self) -> None:
        self._drop()

"""A Kerong CU16 lock board on a serial port, behind the ``LockBoard`` seam (frames:
``devices/kerong_frames.py``). Inputs are the 16 lock hooks then the 16 slot sensors; a lock opens
for the pulse the board times itself, so ``release_lock`` does nothing."""

from __future__ import annotations

import contextlib
import logging
import time

import serial

from devices.kerong_frames import STATUS, Frame, KerongDecoder, read_status, unlock
from devices.lock_board import BoardError

log = logging.getLogger(__name__)


class KerongLockBoard:
    def __init__(self, url: str, *, board: int = 0, baudrate: int = 19200, timeout_s: float = 0.5) -> None:
        self.url = url
        self.board = board
        self.baudrate = baudrate
        self.timeout_s = timeout_s
        self.decoder = KerongDecoder()
        self._port: serial.SerialBase | None = None

    def _open(self) -> serial.SerialBase:
        if self._port is None:
            try:
                self._port = serial.serial_for_url(self.url, baudrate=self.baudrate, timeout=0.05)
            except (serial.SerialException, OSError, ValueError) as exc:
                raise BoardError(f"cannot open lock board port {self.url}: {exc}") from exc
            self.decoder = KerongDecoder()
        return self._port

    def close(self) -> None:
        if self._port is not None:
            with contextlib.suppress(serial.SerialException, OSError):
                self._port.close()
            self._port = None

    def _status(self, request: bytes, what: str) -> Frame | None:
        """Send ``request``; the board's status reply, or None when none came in time."""
        port = self._open()
        try:
            port.reset_input_buffer()
            port.write(request)
            deadline = time.monotonic() + self.timeout_s
            while time.monotonic() < deadline:
                data = port.read(max(1, port.in_waiting))
                for reply in self.decoder.feed(data) if data else []:
                    if reply.command == STATUS and reply.board == self.board:
                        return reply
        except (serial.SerialException, OSError) as exc:
            self.close()
            raise BoardError(f"lock board {self.url}: {what}: {exc}") from exc
        return None

    def read_inputs(self, start: int, count: int) -> list[bool]:
        reply = self._status(read_status(self.board), "read status")
        if reply is None:
            self.close()
            raise BoardError(
                f"lock board {self.url} (Kerong CU16, board {self.board}) did not answer within "
                f"{self.timeout_s} s (check the wiring, baudrate {self.baudrate} and the board's DIP address)"
            )
        return reply.inputs()[start : start + count]

    def open_lock(self, lock: int) -> None:
        try:
            request = unlock(self.board, lock)
        except ValueError as exc:
            raise BoardError(f"lock board {self.url}: {exc}") from exc
        if self._status(request, f"unlock {lock}") is None:
            # some firmware does not answer an unlock: the next status poll tells a dead board
            log.debug("lock board %s: no answer to unlock %d", self.url, lock)

    def release_lock(self, lock: int) -> None:
        """The board ends the pulse itself."""

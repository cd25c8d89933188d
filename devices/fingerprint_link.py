"""Runs a fingerprint dialogue (``Identify``, ``Enrol``) over a serial port, one packet at a time.

The port stays open between dialogues; any failure closes it and raises ``DeviceError`` with the
reason, so the caller decides about backoff and online/offline. A module that stops answering
costs at most ``answer_timeout_s`` per packet: nothing waits forever.
"""

from __future__ import annotations

import contextlib
import time
from typing import Protocol

import serial

from devices.fingerprint import FingerprintDecoder, Packet
from foundation.errors import DeviceError


class Dialogue(Protocol):
    def start(self) -> bytes: ...

    def answer(self, ack: Packet) -> object: ...


class FingerprintLink:
    def __init__(self, url: str, *, baudrate: int = 57600, answer_timeout_s: float = 1.0) -> None:
        self.url = url
        self.baudrate = baudrate
        self.answer_timeout_s = answer_timeout_s
        self.decoder = FingerprintDecoder()
        self._port: serial.SerialBase | None = None

    def _open(self) -> serial.SerialBase:
        if self._port is None:
            try:
                self._port = serial.serial_for_url(self.url, baudrate=self.baudrate, timeout=0.05)
            except (serial.SerialException, OSError, ValueError) as exc:
                raise DeviceError(f"cannot open fingerprint module port {self.url}: {exc}") from exc
            self.decoder = FingerprintDecoder()
        return self._port

    def close(self) -> None:
        if self._port is not None:
            with contextlib.suppress(serial.SerialException, OSError):
                self._port.close()
            self._port = None

    def _exchange(self, request: bytes) -> Packet:
        port = self._open()
        try:
            port.write(request)
            deadline = time.monotonic() + self.answer_timeout_s
            while time.monotonic() < deadline:
                data = port.read(max(1, port.in_waiting))
                packets = self.decoder.feed(data) if data else []
                if packets:
                    return packets[0]
        except (serial.SerialException, OSError) as exc:
            self.close()
            raise DeviceError(f"fingerprint module port {self.url} failed: {exc}") from exc
        self.close()
        raise DeviceError(f"fingerprint module on {self.url} did not answer within {self.answer_timeout_s} s")

    def run(self, dialogue: Dialogue) -> object:
        """Drive ``dialogue`` to its outcome (whatever its ``answer`` returns that is not bytes)."""
        step: object = dialogue.start()
        while isinstance(step, bytes):
            step = dialogue.answer(self._exchange(step))
        return step

"""Runs fingerprint dialogues over a serial port, one packet at a time.

Two dialogue shapes: a state machine (``Identify``: ``start()``/``answer(ack)``) and a generator
(``devices.fingerprint_enrol``: yields packets or ``Later`` ones, receives acknowledgements). Every
packet goes to the configured module ``address``. Each time the port opens the link verifies the
module's password (VfyPwd; 0 is the factory default), so a module that wants another password is
a clear ``ModuleRefused`` at once, not a silent stream of refused captures. The port stays open
between dialogues; any failure closes it and raises ``DeviceError`` with the reason. A module that
stops answering costs at most ``answer_timeout_s`` per packet: nothing waits forever.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Generator
from typing import Protocol, TypeVar

import serial

from devices.fingerprint import (
    ACK_TEXT,
    DEFAULT_ADDRESS,
    PID_ACK,
    FingerprintDecoder,
    Later,
    Packet,
    readdress,
    verify_password,
)
from foundation.errors import DeviceError

T = TypeVar("T")


class ModuleRefused(DeviceError):
    """The module answers but refuses us (wrong password, must verify first, wrong address)."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def explain(code: int) -> str:
    text = ACK_TEXT.get(code, "unknown code")
    hint = {
        0x13: ": set fingerprint.password to the module's password",
        0x21: ": set fingerprint.password",
        0x20: ": check fingerprint.address",
    }.get(code, "")
    return f"code 0x{code:02X} ({text}){hint}"


class Dialogue(Protocol):
    def start(self) -> bytes: ...

    def answer(self, ack: Packet) -> object: ...


class FingerprintLink:
    def __init__(
        self,
        url: str,
        *,
        baudrate: int = 57600,
        answer_timeout_s: float = 1.0,
        address: int = DEFAULT_ADDRESS,
        password: int = 0,
    ) -> None:
        self.url = url
        self.baudrate = baudrate
        self.answer_timeout_s = answer_timeout_s
        self.address = address
        self.password = password
        self.decoder = FingerprintDecoder()
        self._port: serial.SerialBase | None = None

    def _open(self) -> serial.SerialBase:
        if self._port is None:
            try:
                self._port = serial.serial_for_url(self.url, baudrate=self.baudrate, timeout=0.05)
            except (serial.SerialException, OSError, ValueError) as exc:
                raise DeviceError(f"cannot open fingerprint module port {self.url}: {exc}") from exc
            self.decoder = FingerprintDecoder()
            ack = self._exchange(verify_password(self.password))
            if ack.code != 0:
                self.close()
                raise ModuleRefused(
                    f"fingerprint module on {self.url} refused the password: {explain(ack.code)}", ack.code
                )
        return self._port

    def close(self) -> None:
        if self._port is not None:
            with contextlib.suppress(serial.SerialException, OSError):
                self._port.close()
            self._port = None

    def _exchange(self, request: bytes) -> Packet:
        port = self._port or self._open()
        try:
            port.reset_input_buffer()  # an answer that came too late for the last request
            port.write(readdress(request, self.address))
            deadline = time.monotonic() + self.answer_timeout_s
            while time.monotonic() < deadline:
                data = port.read(max(1, port.in_waiting))
                acks = [p for p in (self.decoder.feed(data) if data else []) if p.pid == PID_ACK]
                if acks:  # an echo of our own command (some adapters) is not the answer
                    return acks[0]
        except (serial.SerialException, OSError) as exc:
            self.close()
            raise DeviceError(f"fingerprint module port {self.url} failed: {exc}") from exc
        self.close()
        raise DeviceError(
            f"fingerprint module on {self.url} did not answer within {self.answer_timeout_s} s "
            f"(check the wiring, baudrate {self.baudrate} and address 0x{self.address:08X})"
        )

    def request(self, packet: bytes) -> Packet:
        """One command, its acknowledgement."""
        self._open()
        return self._exchange(packet)

    def run(self, dialogue: Dialogue) -> object:
        """Drive ``dialogue`` to its outcome (whatever its ``answer`` returns that is not bytes)."""
        self._open()
        step: object = dialogue.start()
        while isinstance(step, bytes):
            step = dialogue.answer(self._exchange(step))
        return step

    def drive(self, dialogue: Generator[bytes | Later, Packet, T]) -> T:
        """Drive a generator dialogue to the value it returns."""
        self._open()
        try:
            step = next(dialogue)
            while True:
                if isinstance(step, Later):
                    time.sleep(step.delay_s)
                    step = step.request
                step = dialogue.send(self._exchange(step))
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]

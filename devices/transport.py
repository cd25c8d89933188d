"""Serial ports by pyserial URL, read on a thread, reopened with backoff when they vanish.

Any URL pyserial understands: a device path (``/dev/ttyUSB0``, ``/dev/serial/by-id/…``), a
pseudo-terminal, ``socket://host:port`` (serial-over-TCP gateways), ``loop://``. Bytes go to a
callback; a port that disappears (USB unplugged, gateway gone) is reported offline with the reason
and reopened 1 s, 2 s, then every 4 s, and online again once it opens: a port that comes back
is in use again within 5 s (opening a missing path is cheap, so the short cap costs nothing).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable

import serial

log = logging.getLogger(__name__)

OnBytes = Callable[[bytes], None]
OnState = Callable[[bool, str], None]


class PortReader:
    def __init__(
        self,
        url: str,
        on_bytes: OnBytes,
        on_state: OnState,
        *,
        baudrate: int = 9600,
        name: str = "port",
        first_backoff_s: float = 1.0,
        max_backoff_s: float = 4.0,
    ) -> None:
        self.url = url
        self.baudrate = baudrate
        self.on_bytes = on_bytes
        self.on_state = on_state
        self.name = name
        self.first_backoff_s = first_backoff_s
        self.max_backoff_s = max_backoff_s
        self.online = False
        self._reported: bool | None = None  # nothing said yet: the first state is always news
        self.reopens = 0
        self.bytes_read = 0
        self._port: serial.SerialBase | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"serial-{name}", daemon=True)

    def start(self) -> PortReader:
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 3.0) -> None:
        self._stop.set()
        # the reader thread closes the port itself (reads time out every 0.2 s): closing it from
        # here, under a read in progress, makes pyserial fail with a TypeError
        self._thread.join(timeout_s)
        port = self._port
        if port is not None and not self._thread.is_alive():
            with contextlib.suppress(OSError, serial.SerialException):
                port.close()

    def write(self, data: bytes) -> None:
        port = self._port
        if port is None or not self.online:
            raise serial.SerialException(f"{self.name}: port {self.url} is not open")
        port.write(data)

    def _state(self, online: bool, detail: str) -> None:
        self.online = online
        if online != self._reported:
            self._reported = online
            try:
                self.on_state(online, detail)
            except Exception:
                log.exception("%s: state callback failed", self.name)

    def _run(self) -> None:
        backoff = 0.0
        while not self._stop.is_set():
            try:
                self._port = serial.serial_for_url(self.url, baudrate=self.baudrate, timeout=0.2)
            except (serial.SerialException, OSError, ValueError) as exc:
                self._state(False, f"cannot open {self.url}: {exc}")
                backoff = self.first_backoff_s if backoff == 0 else min(self.max_backoff_s, backoff * 2)
                self.reopens += 1
                self._stop.wait(backoff)
                continue
            backoff = 0.0
            self._state(True, f"{self.url} open")
            try:
                while not self._stop.is_set():
                    data = self._port.read(max(1, self._port.in_waiting))
                    if data:
                        self.bytes_read += len(data)
                        try:
                            self.on_bytes(data)
                        except Exception:
                            log.exception("%s: decoding failed", self.name)
            except (serial.SerialException, OSError) as exc:
                if not self._stop.is_set():
                    log.warning("%s: %s lost: %s", self.name, self.url, exc)
                    self._state(False, f"{self.url} lost: {exc}")
            finally:
                with contextlib.suppress(OSError, serial.SerialException):
                    self._port.close()
                self._port = None
            if not self._stop.is_set():
                backoff = self.first_backoff_s
                self.reopens += 1
                self._stop.wait(backoff)

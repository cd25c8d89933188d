"""A simulated wristband receiver on a pseudo-terminal: the agent opens the slave side like a
real serial port; the simulator writes frames on the master side. For tests, the demo and
integrators checking a config without hardware (``casewatch sim wristbands``)."""

from __future__ import annotations

import contextlib
import os
import select
import threading
import tty
from collections.abc import Callable
from dataclasses import dataclass, field

from devices.readings import Reading
from devices.wristband_frames import encode


@dataclass
class PtyPair:
    master: int
    slave: int
    path: str

    @classmethod
    def open(cls) -> PtyPair:
        master, slave = os.openpty()
        tty.setraw(master)
        tty.setraw(slave)
        return cls(master, slave, os.ttyname(slave))

    def close(self) -> None:
        """Like pulling the USB plug: the agent's reads fail and it reports the device offline."""
        for fd in (self.master, self.slave):
            with contextlib.suppress(OSError):
                os.close(fd)


@dataclass
class WristbandSimulator:
    pty: PtyPair = field(default_factory=PtyPair.open)
    sent: int = 0

    @property
    def path(self) -> str:
        return self.pty.path

    def send(self, *readings: Reading, noise: bytes = b"") -> None:
        data = noise + b"".join(encode(r) for r in readings)
        os.write(self.pty.master, data)
        self.sent += len(readings)

    def drain(self) -> None:
        """Read back whatever the agent wrote (keeps the PTY from filling up)."""
        try:
            os.set_blocking(self.pty.master, False)
            while os.read(self.pty.master, 4096):
                pass
        except (BlockingIOError, OSError):
            pass


class PtyResponder:
    """Serves a request/answer device (a modem, a board) on a PTY: whatever the agent writes goes
    to ``respond``; what it returns is written back."""

    def __init__(self, respond: Callable[[bytes], bytes]) -> None:
        self.respond = respond
        self.pty = PtyPair.open()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pty-responder", daemon=True)

    @property
    def path(self) -> str:
        return self.pty.path

    def start(self) -> PtyResponder:
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.pty.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                ready, _, _ = select.select([self.pty.master], [], [], 0.05)
                if ready:
                    answer = self.respond(os.read(self.pty.master, 4096))
                    if answer:
                        os.write(self.pty.master, answer)
            except OSError:
                if self._stop.wait(0.05):
                    return

"""A simulated wristband receiver on a pseudo-terminal: the agent opens the slave side like a
real serial port; the simulator writes frames on the master side. For tests, the demo and
integrators checking a config without hardware (``casewatch sim wristbands``)."""

from __future__ import annotations

import contextlib
import os
import select
import threading
import time
import tty
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from devices.readings import (
    BandBatteryReading,
    BandButtonReading,
    BandSighting,
    BandTamperReading,
    BandVitalsReading,
    Reading,
)
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
    lost: int = 0

    @property
    def path(self) -> str:
        return self.pty.path

    def send(self, *readings: Reading, noise: bytes = b"") -> None:
        """Write frames; with nobody reading the port (the agent stopped) they are lost, as on a
        real bus, instead of blocking once the terminal's buffer is full."""
        data = noise + b"".join(encode(r) for r in readings)
        try:
            os.set_blocking(self.pty.master, False)
            os.write(self.pty.master, data)
            self.sent += len(readings)
        except BlockingIOError:
            self.lost += len(readings)

    def close(self) -> None:
        self.pty.close()

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


@dataclass
class _BandState:
    anchor: str | None = None
    rssi: int = -55
    heart_rate: int | None = None
    spo2: int | None = None


class BandPlayer:
    """The bands around a simulated receiver: where each is heard, and its vitals.

    ``apply`` takes one step — ``{band: "00000001", anchor: "10"}`` puts a band at an anchor
    (heard there at every ``tick``, so the receiver's hysteresis resolves), ``heart_rate``/``spo2``
    set its vitals (sent once a second), ``strap_open``/``magnet``, ``battery`` and ``button``
    send once, ``anchor: null`` takes the band out of range."""

    def __init__(self, simulator: WristbandSimulator) -> None:
        self.simulator = simulator
        self.bands: dict[str, _BandState] = {}
        self._last_vitals = 0.0
        self._lock = threading.Lock()

    def apply(self, step: dict[str, Any]) -> None:
        with self._lock:
            band = str(step["band"])
            state = self.bands.setdefault(band, _BandState())
            once: list[Reading] = []
            if "anchor" in step:
                state.anchor = None if step["anchor"] is None else str(step["anchor"])
            state.rssi = int(step.get("rssi", state.rssi))
            state.heart_rate = step.get("heart_rate", state.heart_rate)
            state.spo2 = step.get("spo2", state.spo2)
            if "strap_open" in step or "magnet" in step:
                once.append(BandTamperReading(band, bool(step.get("strap_open")), bool(step.get("magnet"))))
            if "battery" in step:
                once.append(BandBatteryReading(band, int(step["battery"]), None))
            if "button" in step:
                once.append(BandButtonReading(band, int(step["button"]), "short"))
            if once:
                self.simulator.send(*once)

    def tick(self, now: float) -> None:
        """Send one round of sightings (and vitals, once a second); read back what was written."""
        with self._lock:
            sightings: list[Reading] = [
                BandSighting(band, s.anchor, s.rssi) for band, s in self.bands.items() if s.anchor is not None
            ]
            if now - self._last_vitals >= 1.0:
                self._last_vitals = now
                sightings += [
                    BandVitalsReading(band, s.heart_rate, s.spo2, None)
                    for band, s in self.bands.items()
                    if s.heart_rate is not None or s.spo2 is not None
                ]
            if sightings:
                self.simulator.send(*sightings)
            self.simulator.drain()


def run_wristband_script(
    simulator: WristbandSimulator,
    steps: list[dict[str, Any]],
    *,
    rate: float = 5.0,
    tail_s: float = 3.0,
    echo: Callable[[str], None] | None = None,
) -> None:
    """Play a timeline of ``BandPlayer`` steps, each with ``at`` seconds; runs ``tail_s`` past the
    last step."""
    player = BandPlayer(simulator)
    started = time.monotonic()
    pending = sorted(steps, key=lambda s: float(s.get("at", 0)))
    end = (float(pending[-1].get("at", 0)) if pending else 0.0) + tail_s
    while (now := time.monotonic() - started) < end:
        while pending and float(pending[0].get("at", 0)) <= now:
            step = pending.pop(0)
            player.apply(step)
            if echo is not None:
                echo(f"t={now:6.1f}s " + ", ".join(f"{k}={v}" for k, v in step.items() if k != "at"))
        player.tick(now)
        time.sleep(1 / rate)

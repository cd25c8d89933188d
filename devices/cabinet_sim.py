"""A whole dossier cabinet on three pseudo-terminals: fingerprint module, Modbus lock board and
QR scanner, each answering through the real codecs. For tests, the demo and
``casewatch sim cabinet``.

The hardware model: slot ``i`` (0-based) has lock coil ``i``, door contact input ``i`` and slot
sensor input ``16 + i`` (``wiring()`` gives the matching config). A door opens only after its
lock was pulsed since it last closed, unless the script forces it.
"""

from __future__ import annotations

import contextlib
import os
import select
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from devices.fingerprint import SimulatedModule
from devices.lock_board import SimulatedModbusBoard
from devices.simulator import PtyPair

OCCUPIED_BASE = 16


@dataclass
class CabinetSimulator:
    slots: int = 8
    enrolled: dict[str, int] = field(default_factory=dict)
    """finger name -> page, e.g. {"P1001": 7}"""
    fingerprint: SimulatedModule = field(init=False)
    board: SimulatedModbusBoard = field(default_factory=SimulatedModbusBoard)
    ptys: dict[str, PtyPair] = field(default_factory=dict)
    _unlocked: set[int] = field(default_factory=set)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    silent: bool = False
    """True: the module and board stop answering (a dead device)."""

    def __post_init__(self) -> None:
        self.fingerprint = SimulatedModule(enrolled=dict(self.enrolled))
        for part in ("fingerprint", "board", "scanner"):
            self.ptys[part] = PtyPair.open()

    # -- what the agent's config needs -----------------------------------------------------------
    @staticmethod
    def slot_name(index: int) -> str:
        return f"s{index + 1:02d}"

    def wiring(self) -> dict[str, dict[str, int]]:
        return {
            self.slot_name(i): {"lock_coil": i, "door_input": i, "occupied_input": OCCUPIED_BASE + i}
            for i in range(self.slots)
        }

    def options(self, **extra: Any) -> dict[str, Any]:
        """``devices[].options`` for a ``dossier-cabinet`` pointed at this simulator."""
        return {
            "fingerprint": {"port": self.ptys["fingerprint"].path, "poll_s": 0.1},
            "board": {"port": self.ptys["board"].path, "poll_s": 0.1, "pulse_s": 0.3},
            "scanner": {"port": self.ptys["scanner"].path},
            "slots": self.wiring(),
            "officers": {page: name for name, page in self.enrolled.items()},
            **extra,
        }

    # -- running ---------------------------------------------------------------------------------
    def start(self) -> CabinetSimulator:
        self._thread = threading.Thread(target=self._serve, name="cabinet-sim", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2)
        for pty in self.ptys.values():
            pty.close()

    def _serve(self) -> None:
        masters = {self.ptys["fingerprint"].master: "fingerprint", self.ptys["board"].master: "board"}
        scanner = self.ptys["scanner"].master
        while not self._stop.is_set():
            try:
                ready, _, _ = select.select([*masters, scanner], [], [], 0.05)
            except (OSError, ValueError):
                return
            for fd in ready:
                try:
                    data = os.read(fd, 4096)
                except OSError:
                    continue  # the agent's side is not open (yet/any more)
                if fd == scanner or self.silent:
                    continue
                with self._lock:
                    answer = (
                        self.fingerprint.respond(data)
                        if masters[fd] == "fingerprint"
                        else self.board.respond(data)
                    )
                    self._track_locks()
                if answer:
                    with contextlib.suppress(OSError):
                        os.write(fd, answer)

    def _track_locks(self) -> None:
        for coil, on in enumerate(self.board.coils[: self.slots]):
            if on:
                self._unlocked.add(coil)

    # -- the script's verbs ----------------------------------------------------------------------
    def _index(self, slot: str) -> int:
        names = [self.slot_name(i) for i in range(self.slots)]
        if slot not in names:
            raise ValueError(f"no slot {slot!r} (slots: {', '.join(names)})")
        return names.index(slot)

    def finger(self, name: str | None) -> None:
        """Put a finger on the sensor ("P1001"; an unknown name does not match), None lifts it."""
        with self._lock:
            self.fingerprint.finger = name

    def scan(self, code: str, *, encoding: str = "utf-8", framing: str = "line") -> None:
        body = code.encode(encoding)
        data = b"\x02" + body + b"\x03" if framing == "stx" else body + b"\r\n"
        os.write(self.ptys["scanner"].master, data)

    def open_door(self, slot: str, *, force: bool = False) -> bool:
        """Open a slot's door; False when it is locked (and not forced)."""
        index = self._index(slot)
        with self._lock:
            if index not in self._unlocked and not force:
                return False
            self.board.inputs[index] = True
        return True

    def close_door(self, slot: str) -> None:
        index = self._index(slot)
        with self._lock:
            self.board.inputs[index] = False
            self._unlocked.discard(index)

    def put(self, slot: str) -> None:
        with self._lock:
            self.board.inputs[OCCUPIED_BASE + self._index(slot)] = True

    def take(self, slot: str) -> None:
        with self._lock:
            self.board.inputs[OCCUPIED_BASE + self._index(slot)] = False

    def door_open(self, slot: str) -> bool:
        return self.board.inputs[self._index(slot)]

    def run_script(self, steps: list[dict[str, Any]], *, echo: Any = None) -> None:
        """Steps like ``{at: 1.5, finger: P1001}``, ``{at: 3, scan: "A1-01"}``, ``{at: 4, open: s01}``,
        ``{close: s01}``, ``{take: s01}``, ``{put: s01}``, ``{force: s01}``, ``{lift: true}``;
        ``at`` is seconds from the start."""
        started = time.monotonic()
        for step in steps:
            at = float(step.get("at", 0))
            delay = started + at - time.monotonic()
            if delay > 0 and self._stop.wait(delay):
                return
            for verb, value in step.items():
                if verb == "at":
                    continue
                result = self.do(verb, value)
                if echo is not None:
                    echo(f"t={at:6.1f}s {verb} {value}" + ("" if result is not False else " (locked)"))

    def do(self, verb: str, value: Any) -> bool | None:
        if verb == "finger":
            self.finger(str(value))
        elif verb == "lift":
            self.finger(None)
        elif verb == "scan":
            self.scan(str(value))
        elif verb == "open":
            return self.open_door(str(value))
        elif verb == "force":
            return self.open_door(str(value), force=True)
        elif verb == "close":
            self.close_door(str(value))
        elif verb == "take":
            self.take(str(value))
        elif verb == "put":
            self.put(str(value))
        else:
            raise ValueError(f"unknown cabinet script verb {verb!r}")
        return None

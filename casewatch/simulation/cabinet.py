"""A whole dossier cabinet on three pseudo-terminals: fingerprint module, Modbus lock board and
QR scanner, each answering through the real codecs. For tests, the demo and
``casewatch sim cabinet``.

The hardware model: slot ``i`` (0-based) has lock coil ``i``, door contact input ``i`` and slot
sensor input ``16 + i`` (``wiring()`` gives the matching config). A door opens only after its
lock was pulsed since it last closed, unless the script forces it. ``door_closed_level`` /
``file_present_level`` wire the contacts either way round (1 = closed is the common magnetic
contact that a closed door pulls).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from casewatch.simulation.fingerprint_module import SimulatedModule
from casewatch.simulation.kerong_board import SimulatedKerongBoard
from casewatch.simulation.lock_board import SimulatedModbusBoard
from casewatch.simulation.wristbands import PtyPair, PtyResponder

OCCUPIED_BASE = 16


@dataclass
class CabinetSimulator:
    slots: int = 8
    enrolled: dict[str, int] = field(default_factory=dict)
    """finger name -> page, e.g. {"P1001": 7}"""
    fingerprint: SimulatedModule = field(init=False)
    family: str = "modbus"
    """the lock board: modbus (a Modbus RTU I/O board) or kerong-cu16"""
    board: SimulatedModbusBoard | SimulatedKerongBoard = field(init=False)
    ptys: dict[str, PtyPair] = field(init=False)
    _responders: dict[str, PtyResponder] = field(init=False)
    _unlocked: set[int] = field(default_factory=set)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    silent: bool = False
    """True: the module and board stop answering (a dead device)."""
    door_closed_level: int = 0
    file_present_level: int = 1

    def __post_init__(self) -> None:
        if self.family not in ("modbus", "kerong-cu16"):
            raise ValueError(f"no simulated {self.family!r} board (modbus, kerong-cu16)")
        self.board = SimulatedModbusBoard() if self.family == "modbus" else SimulatedKerongBoard()
        self._pulses_seen = 0
        for index in range(self.slots):
            self.board.inputs[index] = bool(self.door_closed_level)
            self.board.inputs[OCCUPIED_BASE + index] = not self.file_present_level
        self.fingerprint = SimulatedModule(enrolled=dict(self.enrolled))
        self._responders = {
            "fingerprint": PtyResponder(partial(self._answer, self.fingerprint.respond)),
            "board": PtyResponder(partial(self._answer, self.board.respond)),
        }
        self.ptys = {part: r.pty for part, r in self._responders.items()}
        self.ptys["scanner"] = PtyPair.open()  # the scanner only talks: nothing to answer

    # -- what the agent's config needs -----------------------------------------------------------
    @staticmethod
    def slot_name(index: int) -> str:
        return f"s{index + 1:02d}"

    def wiring(self) -> dict[str, dict[str, int]]:
        return {
            self.slot_name(i): {"lock_coil": i, "door_input": i, "occupied_input": OCCUPIED_BASE + i}
            for i in range(self.slots)
        }

    def board_options(self) -> dict[str, Any]:
        where = {"family": self.family, "port": self.ptys["board"].path, "unit": self.board.unit}
        return {**where, "poll_s": 0.1, "pulse_s": 0.3, **self.levels()}

    def levels(self) -> dict[str, int]:
        return {"door_closed_level": self.door_closed_level, "file_present_level": self.file_present_level}

    def options(self, **extra: Any) -> dict[str, Any]:
        """``devices[].options`` for a ``dossier-cabinet`` pointed at this simulator."""
        return {
            "fingerprint": {"port": self.ptys["fingerprint"].path, "poll_s": 0.1},
            "board": self.board_options(),
            "scanner": {"port": self.ptys["scanner"].path},
            "slots": self.wiring(),
            "officers": {page: name for name, page in self.enrolled.items()},
            **extra,
        }

    # -- running ---------------------------------------------------------------------------------
    def start(self) -> CabinetSimulator:
        for responder in self._responders.values():
            responder.start()
        return self

    def close(self) -> None:
        self._stop.set()
        for responder in self._responders.values():
            responder.close()
        self.ptys["scanner"].close()

    def _answer(self, respond: Callable[[bytes], bytes], data: bytes) -> bytes:
        with self._lock:
            if self.silent:
                return b""
            answer = respond(data)
            for lock in self.board.pulses[self._pulses_seen :]:
                if lock < self.slots:
                    self._unlocked.add(lock)  # a pulsed lock stays open until its door closes
            self._pulses_seen = len(self.board.pulses)
        return answer

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
            self.board.inputs[index] = not self.door_closed_level
        return True

    def close_door(self, slot: str) -> None:
        index = self._index(slot)
        with self._lock:
            self.board.inputs[index] = bool(self.door_closed_level)
            self._unlocked.discard(index)

    def put(self, slot: str) -> None:
        with self._lock:
            self.board.inputs[OCCUPIED_BASE + self._index(slot)] = bool(self.file_present_level)

    def take(self, slot: str) -> None:
        with self._lock:
            self.board.inputs[OCCUPIED_BASE + self._index(slot)] = not self.file_present_level

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

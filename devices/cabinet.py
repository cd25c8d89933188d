"""The fingerprint dossier cabinet as one agent device (``driver: dossier-cabinet``).

Three serial parts — a fingerprint module (EF01), a lock/IO board (Modbus RTU), a QR scanner —
each on its own port and thread, feeding one ``CabinetLogic``. The device is online when every
configured part is; ``device.health`` names the part that failed. Each part reopens its port with
backoff (1 s, 2 s, then every 4 s) after a failure. Which document lies in which slot is kept in
``inventory_file`` (JSON) so a restart does not forget it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from devices.cabinet_logic import CabinetLogic, CabinetRules, Decision
from devices.events import DeviceEvent
from devices.fingerprint import Identify, Matched, NotMatched
from devices.fingerprint_link import FingerprintLink
from devices.lock_board import LockBoard, ModbusLockBoard
from devices.registry import register_driver
from devices.scanner import Scan, ScannerDecoder
from devices.transport import PortReader
from foundation.errors import DeviceError
from protocol.clock import Clock
from protocol.fields import KEY_PATTERN

log = logging.getLogger(__name__)

Key = Annotated[str, Field(pattern=KEY_PATTERN)]
Emit = Callable[[list[DeviceEvent]], None]
OnHealth = Callable[[bool, str], None]

NO_MATCH_CODES = ("no match", "not found")


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FingerprintPart(_Part):
    port: str = Field(..., description="pyserial URL of the fingerprint module")
    baudrate: int = Field(57600, ge=1200, le=921600)
    library_size: int = Field(300, ge=1, le=3000, description="pages searched")
    poll_s: float = Field(0.3, gt=0, le=5, description="how often the sensor is asked for a finger")


class BoardPart(_Part):
    port: str = Field(..., description="pyserial URL of the Modbus RTU lock/IO board")
    baudrate: int = Field(9600, ge=1200, le=921600)
    unit: int = Field(1, ge=1, le=247, description="Modbus slave address")
    inputs: int = Field(32, ge=1, le=2000, description="discrete inputs read per poll, from 0")
    poll_s: float = Field(0.2, gt=0, le=5)
    pulse_s: float = Field(0.8, gt=0, le=10, description="how long a lock coil stays on")
    timeout_s: float = Field(0.5, gt=0, le=10)


class ScannerPart(_Part):
    port: str = Field(..., description="pyserial URL of the QR/barcode scanner")
    baudrate: int = Field(9600, ge=1200, le=921600)
    framing: str = Field("line", pattern="^(line|stx|idle)$")
    idle_ms: int = Field(300, ge=20, le=5000)


class SlotWiring(_Part):
    lock_coil: int = Field(..., ge=0, le=1999)
    door_input: int = Field(..., ge=0, le=1999)
    occupied_input: int = Field(..., ge=0, le=1999)


class CabinetOptions(_Part):
    """``devices[].options`` of a dossier cabinet."""

    fingerprint: FingerprintPart
    board: BoardPart
    scanner: ScannerPart
    slots: dict[Key, SlotWiring] = Field(..., min_length=1)
    officers: dict[int, Key] = Field(default_factory=dict, description="fingerprint page -> officer id")
    authorised: list[Key] | None = Field(None, description="officers allowed (default: every mapped one)")
    two_officers: bool = False
    auth_window_s: float = Field(60, gt=0, le=600)
    grant_window_s: float = Field(30, gt=0, le=600)
    door_held_s: float = Field(120, gt=0, le=86400)
    case_pattern: str = Field(r"^(?P<case>[A-Za-z0-9]+)-", description="regex finding the case in a code")
    inventory_file: str | None = Field(None, description="JSON file keeping document -> slot")

    @model_validator(mode="after")
    def _inputs_in_range(self) -> CabinetOptions:
        for slot, wiring in self.slots.items():
            for what in ("door_input", "occupied_input"):
                if getattr(wiring, what) >= self.board.inputs:
                    raise ValueError(f"slot {slot}: {what} is beyond board.inputs ({self.board.inputs})")
        return self


def _load_inventory(path: str | None) -> dict[str, str]:
    if not path or not os.path.exists(path):
        return {}
    try:
        data = json.loads(Path(path).read_text("utf-8"))
        return {str(k): str(v) for k, v in data.items()}
    except (OSError, ValueError, AttributeError) as exc:
        log.error("cabinet inventory %s unreadable (%s): starting empty", path, exc)
        return {}


def _save_inventory(path: str, inventory: dict[str, str]) -> None:
    tmp = f"{path}.tmp"
    Path(tmp).write_text(json.dumps(inventory, ensure_ascii=False, sort_keys=True), "utf-8")
    os.replace(tmp, path)


@register_driver("dossier-cabinet")
class DossierCabinet:
    Options = CabinetOptions
    active = True

    def __init__(self, device: str, options: CabinetOptions) -> None:
        self.device = device
        self.options = options
        rules = CabinetRules(
            officers=dict(options.officers),
            slots=tuple(options.slots),
            authorised=frozenset(options.authorised) if options.authorised is not None else None,
            two_officers=options.two_officers,
            auth_window_ms=int(options.auth_window_s * 1000),
            grant_window_ms=int(options.grant_window_s * 1000),
            door_held_ms=int(options.door_held_s * 1000),
            case_pattern=options.case_pattern,
        )
        self.logic = CabinetLogic(device, rules, inventory=_load_inventory(options.inventory_file))
        b = options.board
        self.board: LockBoard = ModbusLockBoard(
            b.port, unit=b.unit, baudrate=b.baudrate, timeout_s=b.timeout_s
        )
        self.fingerprint = FingerprintLink(options.fingerprint.port, baudrate=options.fingerprint.baudrate)
        self.scanner = ScannerDecoder(framing=options.scanner.framing, idle_ms=options.scanner.idle_ms)  # type: ignore[arg-type]
        self.counters = {"finger_reads": 0, "finger_failures": 0, "board_errors": 0, "pulses": 0}
        self.parts: dict[str, str] = {}
        """part -> "" when up, else why it is down"""
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._scanner_reader: PortReader | None = None
        self._pending_unlock: list[str] = []
        self._emit: Emit = lambda _events: None
        self._on_health: OnHealth = lambda _online, _detail: None
        self._clock: Clock | None = None
        self._online: bool | None = None

    # -- plumbing --------------------------------------------------------------------------------
    def _now(self) -> int:
        assert self._clock is not None
        return self._clock.now_ms()

    def _apply(self, decision: Decision) -> None:
        """Called with the lock held."""
        self._pending_unlock += decision.unlock
        if self.logic.inventory_changed and self.options.inventory_file:
            self.logic.inventory_changed = False
            try:
                _save_inventory(self.options.inventory_file, self.logic.inventory)
            except OSError as exc:
                log.error("cabinet %s: cannot save inventory: %s", self.device, exc)

    def _decide(self, step: Callable[[int], Decision]) -> None:
        with self._lock:
            decision = step(self._now())
            self._apply(decision)
        if decision.events:
            self._emit(decision.events)

    def _part(self, part: str, problem: str) -> None:
        """A part came up ("") or went down (why); report the cabinet's health when it changes."""
        with self._lock:
            if self.parts.get(part) == problem:
                return
            self.parts[part] = problem
            if problem:
                log.warning("cabinet %s: %s: %s", self.device, part, problem)
            down = {p: why for p, why in self.parts.items() if why}
            known = len(self.parts) == 3
            online = known and not down
            if online == self._online or (not known and not down):
                return
            self._online = online
            detail = (
                "; ".join(f"{p}: {why}" for p, why in sorted(down.items()))
                or "fingerprint, board, scanner up"
            )
        self._on_health(online, detail)

    def start(self, emit: Emit, on_health: OnHealth, clock: Clock) -> DossierCabinet:
        self._emit, self._on_health, self._clock = emit, on_health, clock
        scanner = self.options.scanner
        self._scanner_reader = PortReader(
            scanner.port,
            self._scanner_bytes,
            lambda online, detail: self._part("scanner", "" if online else detail),
            baudrate=scanner.baudrate,
            name=f"{self.device}-scanner",
        ).start()
        for name, target in (("board", self._board_loop), ("fingerprint", self._finger_loop)):
            thread = threading.Thread(target=target, name=f"{self.device}-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._scanner_reader is not None:
            self._scanner_reader.stop()
        for thread in self._threads:
            thread.join(3)
        with contextlib.suppress(Exception):
            self.board.close()
        self.fingerprint.close()

    def tick(self, now_ms: int) -> list[DeviceEvent]:
        with self._lock:
            decision = self.logic.tick(now_ms).add(self._scans(self.scanner.flush_idle(now_ms), now_ms))
            self._apply(decision)
        return decision.events

    def errors(self) -> dict[str, int]:
        return {
            "board_errors": self.counters["board_errors"],
            "finger_failures": self.counters["finger_failures"],
            "finger_bad_checksums": self.fingerprint.decoder.bad_checksums,
            "scan_undecodable": self.scanner.undecodable,
            "scan_oversize": self.scanner.oversize,
        }

    # -- parts -----------------------------------------------------------------------------------
    def _scans(self, scans: list[Scan], now_ms: int) -> Decision:
        decision = Decision()
        for scan in scans:
            decision.add(self.logic.scan(scan.code, now_ms))
        return decision

    def _scanner_bytes(self, data: bytes) -> None:
        with self._lock:
            now = self._now()
            decision = self._scans(self.scanner.feed(data, now), now)
            self._apply(decision)
        if decision.events:
            self._emit(decision.events)

    def _backoff(self, failures: int) -> float:
        return float(min(4, 2 ** max(0, failures - 1)))

    def _board_loop(self) -> None:
        opts = self.options.board
        failures = 0
        relock: dict[int, float] = {}
        while not self._stop.is_set():
            try:
                with self._lock:
                    unlock, self._pending_unlock = self._pending_unlock, []
                for slot in unlock:
                    coil = self.options.slots[slot].lock_coil
                    self.board.set_coil(coil, True)
                    self.counters["pulses"] += 1
                    relock[coil] = time.monotonic() + opts.pulse_s
                for coil, due in list(relock.items()):
                    if time.monotonic() >= due:
                        self.board.set_coil(coil, False)
                        del relock[coil]
                bits = self.board.read_inputs(0, opts.inputs)
            except DeviceError as exc:
                self.counters["board_errors"] += 1
                failures += 1
                self._part("board", str(exc))
                self._stop.wait(self._backoff(failures))
                continue
            failures = 0
            self._part("board", "")
            doors = {slot: bits[w.door_input] for slot, w in self.options.slots.items()}
            occupied = {slot: bits[w.occupied_input] for slot, w in self.options.slots.items()}
            self._decide(partial(self.logic.sensors, doors, occupied))
            self._stop.wait(opts.poll_s)

    def _finger_loop(self) -> None:
        opts = self.options.fingerprint
        failures = 0
        lifted = True  # one identification per touch: wait for "no finger" before the next
        while not self._stop.is_set():
            try:
                outcome = self.fingerprint.run(Identify(library_size=opts.library_size, max_polls=1))
            except DeviceError as exc:
                failures += 1
                self._part("fingerprint", str(exc))
                self._stop.wait(self._backoff(failures))
                continue
            failures = 0
            self._part("fingerprint", "")
            if isinstance(outcome, NotMatched) and outcome.reason == "no finger":
                lifted = True
            elif lifted:
                lifted = False
                self.counters["finger_reads"] += 1
                if isinstance(outcome, Matched):
                    page = outcome.page
                    self._decide(partial(self.logic.finger, page))
                elif isinstance(outcome, NotMatched) and outcome.reason in NO_MATCH_CODES:
                    self._decide(partial(self.logic.finger, None))
                else:
                    self.counters["finger_failures"] += 1
                    lifted = True  # a bad capture: let the officer try again at once
                    log.info("cabinet %s: finger not read (%s)", self.device, outcome)
            self._stop.wait(opts.poll_s)

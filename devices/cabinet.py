"""The fingerprint dossier cabinet as one agent device (``driver: dossier-cabinet``).

Three serial parts — a fingerprint module (EF01), a lock/IO board, a QR scanner — each on its own
port and thread, feeding one ``CabinetLogic``. The device is online when every configured part
is; ``device.health`` names the part that failed. Each part reopens its port with backoff (1 s,
2 s, then every 4 s) after a failure. The board's raw input levels become "door open" / "file
present" through each slot's wiring polarity. The cabinet's whole picture (inventory, doors,
slots, grants) is kept in a state file, written after the events it explains are stored, so a
restart — even a SIGKILL — resumes it and reconciles it with the board's first reading.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
import time
from collections.abc import Callable
from functools import partial
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator, model_validator

from devices.cabinet_keeping import StateKeeping
from devices.cabinet_logic import CabinetLogic, CabinetRules, Decision
from devices.events import DeviceEvent
from devices.fingerprint import Identify, Matched, NotMatched
from devices.fingerprint_link import FingerprintLink, explain
from devices.lock_board import LockBoard, ModbusLockBoard
from devices.registry import register_driver
from devices.scanner import Scan, ScannerDecoder
from devices.service import DeviceStateStore
from devices.transport import PortReader
from foundation.errors import DeviceError
from protocol.clock import Clock
from protocol.fields import KEY_PATTERN

log = logging.getLogger(__name__)

Key = Annotated[str, Field(pattern=KEY_PATTERN)]
Emit = Callable[[list[DeviceEvent]], None]
OnHealth = Callable[[bool, str], None]
Level = Literal[0, 1]

NO_MATCH_CODES = ("no match", "not found")


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FingerprintPart(_Part):
    port: str = Field(..., description="pyserial URL of the fingerprint module")
    baudrate: int = Field(57600, ge=1200, le=921600)
    library_size: int = Field(300, ge=1, le=3000, description="pages searched")
    poll_s: float = Field(0.3, gt=0, le=5, description="how often the sensor is asked for a finger")
    password: int = Field(0, ge=0, le=0xFFFFFFFF, description="module password (VfyPwd), 0 = factory")
    address: int = Field(0xFFFFFFFF, ge=0, le=0xFFFFFFFF, description="module address, FFFFFFFF = factory")


FAMILY_DEFAULTS: dict[str, dict[str, int]] = {
    "modbus": {"baudrate": 9600, "unit": 1, "door_closed_level": 0, "file_present_level": 1},
    "kerong-cu16": {"baudrate": 19200, "unit": 0, "door_closed_level": 1, "file_present_level": 1},
}
"""per board family: serial speed, address, and how its inputs read (Kerong: hook 1 = locked)"""


class BoardPart(_Part):
    family: Literal["modbus", "kerong-cu16"] = Field(
        "modbus", description="modbus: Modbus RTU I/O board; kerong-cu16: Kerong CU16 16-lock board"
    )
    port: str = Field(..., description="pyserial URL of the lock/IO board")
    baudrate: int = Field(9600, ge=1200, le=921600)
    unit: int = Field(1, ge=0, le=247, description="Modbus slave address (1–247) / Kerong DIP address (0–15)")
    inputs: int = Field(32, ge=1, le=2000, description="discrete inputs read per poll, from 0")
    poll_s: float = Field(0.2, gt=0, le=5)
    pulse_s: float = Field(0.8, gt=0, le=10, description="how long a lock coil stays on")
    timeout_s: float = Field(0.5, gt=0, le=10)
    door_closed_level: Level = Field(
        0, description="input level of a CLOSED door: 0 (contact opens with the door) or 1 (closes)"
    )
    file_present_level: Level = Field(1, description="input level of a slot holding a file")

    @model_validator(mode="before")
    @classmethod
    def _family_defaults(cls, data: Any) -> Any:
        if isinstance(data, dict):
            family = data.get("family", "modbus")
            return {**FAMILY_DEFAULTS.get(family, {}), **data}
        return data

    @model_validator(mode="after")
    def _address_fits_the_family(self) -> BoardPart:
        if self.family == "modbus" and not 1 <= self.unit <= 247:
            raise ValueError(f"unit {self.unit}: a Modbus slave address is 1–247")
        if self.family == "kerong-cu16":
            if not 0 <= self.unit <= 15:
                raise ValueError(f"unit {self.unit}: a Kerong CU16 board address (DIP) is 0–15")
            if self.inputs > 32:
                raise ValueError("a Kerong CU16 board has 32 inputs (16 lock hooks, 16 slot sensors)")
        return self

    def open(self) -> LockBoard:
        if self.family == "kerong-cu16":
            from devices.kerong_board import KerongLockBoard

            return KerongLockBoard(
                self.port, board=self.unit, baudrate=self.baudrate, timeout_s=self.timeout_s
            )
        return ModbusLockBoard(self.port, unit=self.unit, baudrate=self.baudrate, timeout_s=self.timeout_s)


class ScannerPart(_Part):
    port: str = Field(..., description="pyserial URL of the QR/barcode scanner")
    baudrate: int = Field(9600, ge=1200, le=921600)
    framing: str = Field("line", pattern="^(line|stx|idle)$")
    idle_ms: int = Field(300, ge=20, le=5000)


class SlotWiring(_Part):
    lock_coil: int = Field(..., ge=0, le=1999)
    door_input: int = Field(..., ge=0, le=1999)
    occupied_input: int = Field(..., ge=0, le=1999)
    door_closed_level: Level | None = Field(None, description="this slot's, else the board's")
    file_present_level: Level | None = Field(None, description="this slot's, else the board's")
    pulse_s: float | None = Field(None, gt=0, le=10, description="this lock's pulse, else the board's")


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
    state_file: str | None = Field(
        None,
        validation_alias=AliasChoices("state_file", "inventory_file"),
        description="outside the agent: JSON file keeping inventory, doors, slots and grants; in the "
        "agent they live in its outbox and an existing file is imported once (inventory_file: old name)",
    )

    @model_validator(mode="after")
    def _inputs_in_range(self) -> CabinetOptions:
        for slot, wiring in self.slots.items():
            for what in ("door_input", "occupied_input"):
                if getattr(wiring, what) >= self.board.inputs:
                    raise ValueError(f"slot {slot}: {what} is beyond board.inputs ({self.board.inputs})")
            if self.board.family == "kerong-cu16" and wiring.lock_coil > 15:
                raise ValueError(f"slot {slot}: lock_coil {wiring.lock_coil}: a Kerong CU16 has locks 0–15")
        self._wired_once()
        size = self.fingerprint.library_size
        beyond = sorted(page for page in self.officers if page >= size)
        if beyond:
            raise ValueError(f"officers: page(s) {beyond} beyond fingerprint.library_size ({size})")
        return self

    def _wired_once(self) -> None:
        """Two slots on one lock or one input is a copy-paste mistake: a grant would open the
        wrong door, and one contact would report for two slots."""
        locks: dict[int, str] = {}
        inputs: dict[int, str] = {}
        for slot, wiring in self.slots.items():
            if wiring.lock_coil in locks:
                raise ValueError(
                    f"slots {locks[wiring.lock_coil]} and {slot} share lock_coil {wiring.lock_coil}"
                )
            locks[wiring.lock_coil] = slot
            for what in ("door_input", "occupied_input"):
                number = getattr(wiring, what)
                if number in inputs:
                    raise ValueError(f"slot {slot}: {what} {number} is already {inputs[number]}")
                inputs[number] = f"{slot}'s {what}"

    @field_validator("case_pattern")
    @classmethod
    def _case_pattern(cls, pattern: str) -> str:
        try:
            compiled = re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from exc
        if "case" not in compiled.groupindex:
            raise ValueError("needs a named group (?P<case>…) for the case number")
        return pattern

    def door_open(self, slot: str, bits: list[bool]) -> bool:
        """The slot's door contact, read through its wiring's polarity."""
        wiring, board = self.slots[slot], self.board
        closed = board.door_closed_level if wiring.door_closed_level is None else wiring.door_closed_level
        return bits[wiring.door_input] != bool(closed)

    def file_present(self, slot: str, bits: list[bool]) -> bool:
        wiring, board = self.slots[slot], self.board
        present = board.file_present_level if wiring.file_present_level is None else wiring.file_present_level
        return bits[wiring.occupied_input] == bool(present)

    def pulse_s(self, slot: str) -> float:
        return self.slots[slot].pulse_s or self.board.pulse_s


@register_driver("dossier-cabinet")
class DossierCabinet:
    Options = CabinetOptions
    active = True

    keeps_state = True

    def __init__(
        self, device: str, options: CabinetOptions, *, store: DeviceStateStore | None = None
    ) -> None:
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
        self.keeping = StateKeeping(device, store, options.state_file)
        self.logic = CabinetLogic(device, rules, state=self.keeping.load())
        self.board: LockBoard = options.board.open()
        finger = options.fingerprint
        self.fingerprint = FingerprintLink(
            finger.port, baudrate=finger.baudrate, address=finger.address, password=finger.password
        )
        self.scanner = ScannerDecoder(framing=options.scanner.framing, idle_ms=options.scanner.idle_ms)  # type: ignore[arg-type]
        self.counters = {
            "finger_reads": 0, "finger_failures": 0, "board_errors": 0, "pulses": 0,
        }  # fmt: skip
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
        """Called with the lock held: publish the events with the state they leave behind (one
        commit in the agent), then queue the lock pulses."""
        self.keeping.commit(decision.events, self.logic.state, self._emit)
        self._pending_unlock += decision.unlock

    def _decide(self, step: Callable[[int], Decision]) -> None:
        with self._lock:
            self._apply(step(self._now()))

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
        self._decide(self.logic.resumed)
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
        """Emits itself (before saving the state), so returns nothing to the service."""
        with self._lock:
            self._apply(self.logic.tick(now_ms).add(self._scans(self.scanner.flush_idle(now_ms), now_ms)))
        return []

    def errors(self) -> dict[str, int]:
        return {
            "board_errors": self.counters["board_errors"],
            "finger_failures": self.counters["finger_failures"],
            "finger_bad_checksums": self.fingerprint.decoder.bad_checksums,
            "scan_undecodable": self.scanner.undecodable,
            "scan_oversize": self.scanner.oversize,
            "state_errors": self.keeping.errors,
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
            self._apply(self._scans(self.scanner.feed(data, now), now))

    def _backoff(self, failures: int) -> float:
        return float(min(4, 2 ** max(0, failures - 1)))

    def _pulse_locks(self, relock: dict[int, float]) -> None:
        """Open the locks the logic asked for; release each after its pulse. A pulse the board
        refused stays queued for the next round."""
        with self._lock:
            now = self._now()
            unlock = [
                s for s in self._pending_unlock if s in self.options.slots and self.logic.pulse_due(s, now)
            ]
            self._pending_unlock = []
        try:
            while unlock:
                lock = self.options.slots[unlock[0]].lock_coil
                self.board.open_lock(lock)
                self.counters["pulses"] += 1
                relock[lock] = time.monotonic() + self.options.pulse_s(unlock.pop(0))
        finally:
            if unlock:
                with self._lock:
                    self._pending_unlock[:0] = unlock
        for lock, due in list(relock.items()):
            if time.monotonic() >= due:
                self.board.release_lock(lock)
                del relock[lock]

    def _board_loop(self) -> None:
        opts = self.options.board
        failures = 0
        relock: dict[int, float] = {}
        while not self._stop.is_set():
            try:
                self._pulse_locks(relock)
                bits = self.board.read_inputs(0, opts.inputs)
            except Exception as exc:  # DeviceError, or a bug: never let the board thread die
                if not isinstance(exc, DeviceError):
                    log.exception("cabinet %s: board loop", self.device)
                self.counters["board_errors"] += 1
                failures += 1
                with self._lock:
                    self.logic.board_lost()
                self._part("board", str(exc))
                self._stop.wait(self._backoff(failures))
                continue
            failures = 0
            self._part("board", "")
            doors = {slot: self.options.door_open(slot, bits) for slot in self.options.slots}
            occupied = {slot: self.options.file_present(slot, bits) for slot in self.options.slots}
            self._decide(partial(self.logic.sensors, doors, occupied))
            self._stop.wait(opts.poll_s)

    def _finger_loop(self) -> None:
        opts = self.options.fingerprint
        failures = 0
        lifted = True  # one identification per touch: wait for "no finger" before the next
        while not self._stop.is_set():
            try:
                outcome = self.fingerprint.run(Identify(library_size=opts.library_size, max_polls=1))
            except Exception as exc:  # DeviceError, or a bug: never let the finger thread die
                if not isinstance(exc, DeviceError):
                    log.exception("cabinet %s: fingerprint loop", self.device)
                self.fingerprint.close()
                failures += 1
                self._part("fingerprint", str(exc))
                self._stop.wait(self._backoff(failures))
                continue
            if isinstance(outcome, NotMatched) and outcome.refused:
                failures += 1  # answers, but refuses: as good as down, and says why
                self.fingerprint.close()  # a rebooted module forgot the password: verify it again
                self._part("fingerprint", f"module refuses commands: {explain(outcome.code or 0)}")
                self._stop.wait(self._backoff(failures))
                continue
            failures = 0
            self._part("fingerprint", "")
            if isinstance(outcome, NotMatched) and outcome.reason == "no finger":
                lifted = True
            elif lifted:
                lifted = not self._identified(outcome)
            self._stop.wait(opts.poll_s)

    def _identified(self, outcome: object) -> bool:
        """A finger was read (True) — or its capture failed and the officer may try again at once."""
        self.counters["finger_reads"] += 1
        if isinstance(outcome, Matched):
            self._decide(partial(self.logic.finger, outcome.page))
        elif isinstance(outcome, NotMatched) and outcome.reason in NO_MATCH_CODES:
            self._decide(partial(self.logic.finger, None))
        else:
            self.counters["finger_failures"] += 1
            log.info("cabinet %s: finger not read (%s)", self.device, outcome)
            return False
        return True

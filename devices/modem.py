"""GSM/4G modem: sending Chinese SMS with AT commands (3GPP TS 27.005), dialogue without I/O.

``SendSms`` is the whole exchange as a state machine: check the SIM (``AT+CPIN?``), the network
registration (``AT+CREG?``) and the signal (``AT+CSQ``), switch to PDU mode, then for each part
``AT+CMGS=<length>``, wait for the ``> `` prompt, send the PDU and Ctrl-Z, and read ``+CMGS: <ref>``
or ``+CMS ERROR: <n>``. A failed part is retried ``retries`` times. Unsolicited lines (``+CMTI``,
``+CREG``, ``RING``…) can arrive in the middle of any answer: they are set aside, never mistaken for
the answer. ``ModemLink`` drives the machine over a serial port.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field

import serial

from devices.sms_pdu import Pdu, encode_submit

CTRL_Z = b"\x1a"
PROMPT = "> "
_URC = re.compile(r"^(\+CMTI|\+CDSI|\+CREG: \d$|\+CEREG: \d$|\+CGREG: \d$|RING|\+CLIP|\^|\+CMT:|NO CARRIER)")


PIN_REFUSED = (
    "the SIM PIN was already entered once; it is not tried again until the hub restarts (three wrong "
    "PINs lock the SIM with its PUK): check notify.sms.pin"
)


class LineReader:
    """Bytes from the modem -> lines, with the ``> `` prompt as a line of its own."""

    MAX_LINE = 4096  # longer than any answer: a modem spewing bytes without a line end is noise

    def __init__(self) -> None:
        self._buffer = ""
        self.overlong = 0

    def feed(self, data: bytes) -> list[str]:
        self._buffer += data.decode("ascii", errors="replace")
        if len(self._buffer) > self.MAX_LINE and "\r" not in self._buffer and "\n" not in self._buffer:
            self.overlong += 1
            self._buffer = ""
        lines = []
        while True:
            if self._buffer.lstrip("\r\n").startswith(PROMPT):
                self._buffer = self._buffer.lstrip("\r\n")[len(PROMPT) :]
                lines.append(PROMPT)
                continue
            cut = min((i for i in (self._buffer.find("\r"), self._buffer.find("\n")) if i >= 0), default=-1)
            if cut < 0:
                return lines
            line, self._buffer = self._buffer[:cut].strip(), self._buffer[cut + 1 :]
            if line:
                lines.append(line)


def is_unsolicited(line: str) -> bool:
    return bool(_URC.match(line))


@dataclass(frozen=True)
class SmsResult:
    ok: bool
    references: tuple[int, ...]
    error: str | None
    attempts: int


@dataclass
class SendSms:
    number: str
    text: str
    retries: int = 2
    reference: int = 0
    pin: str | None = None
    """the SIM's PIN, entered when ``AT+CPIN?`` says ``SIM PIN``"""
    pin_allowed: bool = True
    """False once a PIN was refused: never a second try (three wrong PINs lock the SIM)"""
    pin_entered: bool | None = None
    """after the dialogue: None not needed, True accepted, False refused"""
    unsolicited: list[str] = field(default_factory=list)
    _pdus: list[Pdu] = field(default_factory=list)
    _step: str = "cmee"
    _part: int = 0
    _tries: int = 0
    _attempts: int = 0
    _refs: list[int] = field(default_factory=list)
    _info: list[str] = field(default_factory=list)

    def start(self) -> bytes:
        self._pdus = encode_submit(self.number, self.text, reference=self.reference)
        self._step = "cmee"
        return b"AT+CMEE=2\r"

    def _done(self, ok: bool, error: str | None = None) -> SmsResult:
        return SmsResult(ok, tuple(self._refs), error, self._attempts)

    def _send_part(self) -> bytes:
        self._step = "cmgs"
        self._attempts += 1
        return f"AT+CMGS={self._pdus[self._part].tpdu_length}\r".encode()

    def line(self, line: str) -> bytes | SmsResult | None:
        """Feed one line from the modem; get the next bytes to write, the result, or None (wait)."""
        if is_unsolicited(line):
            self.unsolicited.append(line)
            return None
        if line.startswith(("+CME ERROR", "+CMS ERROR")) or line == "ERROR":
            return self._error(line)
        if line != "OK" and line != PROMPT and not line.startswith("+CMGS"):
            self._info.append(line)
            return None
        step = self._step
        if step == "cmee":
            self._step = "cpin"
            return b"AT+CPIN?\r"
        if step == "cpin" and line == "OK":
            return self._sim_state()
        if step == "pin" and line == "OK":
            self.pin_entered = True
            self._info.clear()
            self._step = "cpin"
            return b"AT+CPIN?\r"
        if step == "creg" and line == "OK":
            status = next((i.split(",")[-1].strip() for i in self._info if i.startswith("+CREG:")), "")
            if status not in ("1", "5"):
                return self._done(False, f"not registered on the network (+CREG status {status or '?'})")
            self._info.clear()
            self._step = "csq"
            return b"AT+CSQ\r"
        if step == "csq" and line == "OK":
            rssi = next(
                (i.split(":")[1].split(",")[0].strip() for i in self._info if i.startswith("+CSQ:")), "99"
            )
            if rssi == "99" or not rssi.isdigit() or int(rssi) == 0:
                return self._done(False, f"no signal (+CSQ {rssi})")
            self._info.clear()
            self._step = "cmgf"
            return b"AT+CMGF=0\r"
        if step == "cmgf" and line == "OK":
            return self._send_part()
        if step == "cmgs" and line == PROMPT:
            self._step = "sent"
            return self._pdus[self._part].hex.encode() + CTRL_Z
        if step == "sent" and line.startswith("+CMGS"):
            self._refs.append(int(line.split(":")[1].strip()))
            return None
        if step == "sent" and line == "OK":
            self._part += 1
            self._tries = 0
            if self._part == len(self._pdus):
                return self._done(True)
            return self._send_part()
        return None

    def _sim_state(self) -> bytes | SmsResult:
        """``AT+CPIN?`` answered (TS 27.007 codes, matched exactly): go on when READY (or when
        only PIN2 is asked: SMS does not need it), enter the SIM PIN once when asked for it."""
        code = next((i.split(":", 1)[1].strip() for i in self._info if i.startswith("+CPIN:")), "")
        self._info.clear()
        if code in ("READY", "SIM PIN2", "SIM PUK2"):
            self._step = "creg"
            return b"AT+CREG?\r"
        if code == "SIM PIN":
            if self.pin_entered:
                return self._done(
                    False, "the SIM still asks for its PIN after it was entered: check notify.sms.pin"
                )
            if not self.pin:
                return self._done(False, "the SIM asks for its PIN: set notify.sms.pin")
            if not self.pin_allowed:
                return self._done(False, PIN_REFUSED)
            self._step = "pin"
            return f'AT+CPIN="{self.pin}"\r'.encode()
        if code == "SIM PUK":
            return self._done(False, "the SIM is locked and needs its PUK (unlock it in a phone)")
        return self._done(
            False,
            f"SIM not ready: {code or 'no answer'} (the modem asks for something casewatch does not enter)",
        )

    def _error(self, line: str) -> bytes | SmsResult:
        if self._step == "pin":
            self.pin_entered = False
            return self._done(False, f"the SIM refused the PIN ({line}): {PIN_REFUSED}")
        if self._step in ("cmgs", "sent") and self._tries < self.retries:
            self._tries += 1
            return self._send_part()
        if self._step == "cmee":  # an old modem without verbose errors: carry on
            self._step = "cpin"
            return b"AT+CPIN?\r"
        return self._done(False, f"{self._step}: {line}")


class ModemLink:
    """Runs ``SendSms`` over a serial port (pyserial URL); one message at a time. Enters the SIM
    PIN when asked, at most once per process: a refused PIN is never tried again."""

    def __init__(
        self, url: str, *, baudrate: int = 115200, timeout_s: float = 20.0, pin: str | None = None
    ) -> None:
        self.url = url
        self.baudrate = baudrate
        self.timeout_s = timeout_s
        self.pin = pin
        self.pin_refused = False
        self._lock = threading.Lock()
        self.unsolicited: list[str] = []

    def send(self, number: str, text: str, *, reference: int = 0, retries: int = 2) -> SmsResult:
        if not text.strip():
            return SmsResult(False, (), "empty message: nothing to send", 0)
        dialogue = SendSms(
            number, text, retries=retries, reference=reference, pin=self.pin, pin_allowed=not self.pin_refused
        )
        try:
            return self._run(dialogue)
        finally:  # entered once per process, whatever came of it: never a second try
            self.pin_refused = self.pin_refused or dialogue.pin_entered is not None

    def _run(self, dialogue: SendSms) -> SmsResult:
        with self._lock:
            try:
                port = serial.serial_for_url(self.url, baudrate=self.baudrate, timeout=0.2)
            except (serial.SerialException, OSError, ValueError) as exc:
                return SmsResult(False, (), f"modem port {self.url}: {exc}", 0)
            try:
                reader = LineReader()
                port.write(dialogue.start())
                deadline = time.monotonic() + self.timeout_s
                while time.monotonic() < deadline:
                    data = port.read(max(1, port.in_waiting))
                    for line in reader.feed(data):
                        step = dialogue.line(line)
                        if isinstance(step, SmsResult):
                            return step
                        if step is not None:
                            port.write(step)
                return SmsResult(
                    False,
                    tuple(dialogue._refs),
                    f"modem did not answer within {self.timeout_s:.0f} s",
                    dialogue._attempts,
                )
            except (serial.SerialException, OSError) as exc:
                return SmsResult(
                    False, tuple(dialogue._refs), f"modem port {self.url} failed: {exc}", dialogue._attempts
                )
            finally:
                self.unsolicited += dialogue.unsolicited
                port.close()

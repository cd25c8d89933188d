"""A GSM modem's far end for tests and the demo: answers AT commands, records what it "sent"."""

from __future__ import annotations

from dataclasses import dataclass, field

from devices.modem import CTRL_Z, LineReader


@dataclass
class SimulatedModem:
    """Answers like a modem, for tests and the demo; records what it "sent"."""

    sim_ready: bool = True
    registered: bool = True
    csq: int = 20
    fail_sends: int = 0
    urc_every: int = 2
    pin: str | None = None
    """the SIM's PIN: until it is entered, AT+CPIN? answers SIM PIN (three wrong ones: SIM PUK)"""
    pin_tries: list[str] = field(default_factory=list)
    pin_accepted_late: bool = False
    """answers OK to AT+CPIN= but keeps reporting SIM PIN (firmware that checks the PIN later)"""
    pin2: bool = False
    """reports SIM PIN2 (only PIN2 wanted: SMS can be sent)"""
    sent: list[str] = field(default_factory=list)
    _reader: LineReader = field(default_factory=LineReader)
    _pending_pdu: bool = False
    _ref: int = 0
    _count: int = 0
    _buffer: bytes = b""

    def _locked(self) -> str | None:
        if self.pin_accepted_late and self.pin_tries:
            return "SIM PIN"
        if self.pin is None or self.pin in self.pin_tries:
            return "SIM PIN2" if self.pin2 else None
        return "SIM PUK" if len(self.pin_tries) >= 3 else "SIM PIN"

    def _cpin(self) -> bytes:
        if not self.sim_ready:
            return b"\r\n+CME ERROR: SIM not inserted\r\n"
        return f"\r\n+CPIN: {self._locked() or 'READY'}\r\n\r\nOK\r\n".encode()

    def _enter_pin(self, pin: str) -> bytes:
        if self._locked() != "SIM PIN":
            return b"\r\n+CME ERROR: operation not allowed\r\n"
        self.pin_tries.append(pin)
        right = pin == self.pin or self.pin_accepted_late
        return b"\r\nOK\r\n" if right else b"\r\n+CME ERROR: incorrect password\r\n"

    def respond(self, data: bytes) -> bytes:
        if self._pending_pdu:
            self._buffer += data
            if CTRL_Z not in self._buffer:
                return b""
            pdu, _, rest = self._buffer.partition(CTRL_Z)
            self._buffer, self._pending_pdu = b"", False
            if self.fail_sends > 0:
                self.fail_sends -= 1
                return b"\r\n+CMS ERROR: 500\r\n" + self.respond(rest)
            self.sent.append(pdu.decode())
            self._ref += 1
            return f"\r\n+CMGS: {self._ref}\r\n\r\nOK\r\n".encode() + self.respond(rest)
        out = b""
        for line in self._reader.feed(data):
            self._count += 1
            if self.urc_every and self._count % self.urc_every == 0:
                out += b'\r\n+CMTI: "SM",3\r\n'  # a message arrived: unsolicited, mid-dialogue
            if line.startswith("AT+CPIN?"):
                out += self._cpin()
            elif line.startswith("AT+CPIN="):
                out += self._enter_pin(line.split("=", 1)[1].strip().strip('"'))
            elif line.startswith("AT+CREG?"):
                out += f"\r\n+CREG: 0,{1 if self.registered else 2}\r\n\r\nOK\r\n".encode()
            elif line.startswith("AT+CSQ"):
                out += f"\r\n+CSQ: {self.csq},0\r\n\r\nOK\r\n".encode()
            elif line.startswith("AT+CMGS="):
                self._pending_pdu = True
                out += b"\r\n> "
            elif line.startswith("AT"):
                out += b"\r\nOK\r\n"
        return out

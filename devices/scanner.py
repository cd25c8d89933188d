"""QR/barcode scanners on a serial line (9600 8N1 by default), sans I/O.

Framing, as the scanner is set up:
- ``line``: each code ends with CR, LF or CR LF (the factory default of most scanners);
- ``stx``: each code is wrapped in STX (0x02) … ETX (0x03) — use it for QR codes that contain
  line breaks;
- ``idle``: a code ends when no byte has come for ``idle_ms`` (scanners set to send no suffix).
In every mode an unterminated code is also flushed after ``idle_ms``, so nothing waits forever.

Text is decoded as UTF-8, else GB18030 (GBK's superset, what Chinese scanners send by default);
bytes neither can read are replaced and counted. The same code read again within ``dedupe_ms``
is dropped (scanners re-read a code held under them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

STX, ETX = 0x02, 0x03
Framing = Literal["line", "stx", "idle"]


@dataclass(frozen=True)
class Scan:
    code: str
    encoding: str


@dataclass
class ScannerDecoder:
    framing: Framing = "line"
    idle_ms: int = 300
    dedupe_ms: int = 2000
    max_length: int = 1024
    duplicates: int = 0
    undecodable: int = 0
    oversize: int = 0
    _buffer: bytearray = field(default_factory=bytearray)
    _last_byte_ms: int = 0
    _in_frame: bool = False
    _recent: dict[str, int] = field(default_factory=dict)

    def feed(self, data: bytes, now_ms: int) -> list[Scan]:
        out = self.flush_idle(now_ms) if data else []
        for byte in data:
            if self.framing == "stx":
                if byte == STX:
                    self._buffer.clear()
                    self._in_frame = True
                elif byte == ETX and self._in_frame:
                    out += self._emit(now_ms)
                    self._in_frame = False
                elif self._in_frame:
                    self._buffer.append(byte)
            elif self.framing == "line" and byte in (0x0D, 0x0A):
                out += self._emit(now_ms)
            else:
                self._buffer.append(byte)
            if len(self._buffer) > self.max_length:
                self.oversize += 1
                self._buffer.clear()
                self._in_frame = False
        if data:
            self._last_byte_ms = now_ms
        return out

    def flush_idle(self, now_ms: int) -> list[Scan]:
        """Call on a timer too: ends a code that has been idle ``idle_ms``."""
        if self._buffer and now_ms - self._last_byte_ms >= self.idle_ms:
            self._in_frame = False
            return self._emit(now_ms)
        return []

    def _emit(self, now_ms: int) -> list[Scan]:
        raw = bytes(self._buffer).strip(b"\r\n\x00 ")
        self._buffer.clear()
        if not raw:
            return []
        for encoding in ("utf-8", "gb18030"):
            try:
                text = raw.decode(encoding)
                break
            except UnicodeDecodeError:
                continue
        else:
            self.undecodable += 1
            text, encoding = raw.decode("utf-8", errors="replace"), "utf-8?"
        last = self._recent.get(text)
        self._recent = {c: t for c, t in self._recent.items() if now_ms - t < self.dedupe_ms}
        self._recent[text] = now_ms
        if last is not None and now_ms - last < self.dedupe_ms:
            self.duplicates += 1
            return []
        return [Scan(text, encoding)]

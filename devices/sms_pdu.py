"""SMS-SUBMIT PDUs for Chinese text (3GPP TS 23.040 / 23.038): UCS2, concatenated when long.

Chinese needs UCS2 (DCS 0x08): 70 UTF-16 units fit one message; a longer text is split into
parts of 67 units, each with the concatenation header ``05 00 03 REF TOTAL SEQ``, never splitting a
surrogate pair. Each PDU starts with ``00`` (use the SIM's SMS centre); ``tpdu_length`` is the
number ``AT+CMGS=`` wants (octets after that first byte).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SINGLE_UNITS = 70
PART_UNITS = 67
_NUMBER = re.compile(r"^\+?[0-9]{3,20}$")


@dataclass(frozen=True)
class Pdu:
    hex: str
    tpdu_length: int
    part: int
    parts: int


def _address(number: str) -> bytes:
    if not _NUMBER.match(number):
        raise ValueError(f"not a phone number: {number!r}")
    international = number.startswith("+")
    digits = number.lstrip("+")
    padded = digits + ("F" if len(digits) % 2 else "")
    swapped = "".join(padded[i + 1] + padded[i] for i in range(0, len(padded), 2))
    return bytes([len(digits), 0x91 if international else 0x81]) + bytes.fromhex(swapped)


def _units(text: str) -> list[bytes]:
    """UTF-16BE code units, with surrogate pairs kept together as one 4-byte item."""
    return [ch.encode("utf-16-be") for ch in text]


def split_parts(text: str) -> list[bytes]:
    """The UCS2 bytes of each message part."""
    chars = _units(text)
    total_units = sum(len(c) // 2 for c in chars)
    if total_units <= SINGLE_UNITS:
        return [b"".join(chars)]
    parts: list[bytes] = []
    current: list[bytes] = []
    used = 0
    for ch in chars:
        size = len(ch) // 2
        if used + size > PART_UNITS:
            parts.append(b"".join(current))
            current, used = [], 0
        current.append(ch)
        used += size
    parts.append(b"".join(current))
    return parts


def encode_submit(number: str, text: str, *, reference: int = 0, validity: int = 0xA7) -> list[Pdu]:
    """PDUs to send ``text`` to ``number`` (one, or several with a shared ``reference``)."""
    if not text:
        raise ValueError("empty message")
    parts = split_parts(text)
    if len(parts) > 255:
        raise ValueError("message too long")
    destination = _address(number)
    out = []
    for index, ucs2 in enumerate(parts, start=1):
        if len(parts) == 1:
            first, user_data = 0x11, ucs2
        else:
            first, user_data = 0x51, bytes([0x05, 0x00, 0x03, reference & 0xFF, len(parts), index]) + ucs2
        tpdu = bytes([first, 0x00]) + destination + bytes([0x00, 0x08, validity, len(user_data)]) + user_data
        out.append(Pdu(hex=("00" + tpdu.hex()).upper(), tpdu_length=len(tpdu), part=index, parts=len(parts)))
    return out


def decode_submit_text(pdu_hex: str) -> tuple[str, str, tuple[int, int, int] | None]:
    """(number, text, (reference, total, seq) or None) of a PDU made by ``encode_submit``."""
    data = bytes.fromhex(pdu_hex)
    smsc = data[0]
    tpdu = data[1 + smsc :]
    first = tpdu[0]
    digits = tpdu[2]
    kind = tpdu[3]
    octets = (digits + 1) // 2
    swapped = tpdu[4 : 4 + octets].hex().upper()
    number = "".join(swapped[i + 1] + swapped[i] for i in range(0, len(swapped), 2)).rstrip("F")
    if kind == 0x91:
        number = "+" + number
    position = 4 + octets + 3  # PID, DCS, VP
    length = tpdu[position]
    user_data = tpdu[position + 1 : position + 1 + length]
    header = None
    if first & 0x40:
        udh_length = user_data[0]
        udh = user_data[1 : 1 + udh_length]
        header = (udh[2], udh[3], udh[4])
        user_data = user_data[1 + udh_length :]
    return number, user_data.decode("utf-16-be"), header

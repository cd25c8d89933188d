"""UUIDv7 identifiers (RFC 9562): time-ordered, so ids sort roughly by creation."""

from __future__ import annotations

import os
import re
import uuid

UUID7_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"
_UUID7_RE = re.compile(UUID7_PATTERN)


def uuid7(now_ms: int, *, random_bytes: bytes | None = None) -> str:
    """A UUIDv7 string for the given Unix time in milliseconds."""
    if not 0 <= now_ms < 1 << 48:
        raise ValueError(f"timestamp out of range for UUIDv7: {now_ms}")
    rand = random_bytes if random_bytes is not None else os.urandom(10)
    if len(rand) != 10:
        raise ValueError("UUIDv7 needs 10 random bytes")
    rand_a = int.from_bytes(rand[:2], "big") & 0x0FFF
    rand_b = int.from_bytes(rand[2:], "big") & ((1 << 62) - 1)
    value = (now_ms << 80) | (0x7 << 76) | (rand_a << 64) | (0b10 << 62) | rand_b
    return str(uuid.UUID(int=value))


def is_uuid7(text: str) -> bool:
    return bool(_UUID7_RE.match(text))


def uuid7_time_ms(text: str) -> int:
    """The millisecond timestamp inside a UUIDv7."""
    return uuid.UUID(text).int >> 80

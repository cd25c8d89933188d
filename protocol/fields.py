"""Field types the wire contract shares: keys safe as MQTT topic levels, times, bounded numbers."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from protocol.ids import UUID7_PATTERN

KEY_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
MAX_SAFE_INT = 2**53 - 1

Key = Annotated[str, Field(pattern=KEY_PATTERN)]
"""An identifier that is safe as an MQTT topic level: room, zone, camera, band, device, case…"""
Ms = Annotated[int, Field(ge=0, le=MAX_SAFE_INT)]
"""A point in time: milliseconds since the Unix epoch, UTC."""
DurationMs = Annotated[int, Field(ge=0, le=MAX_SAFE_INT)]
Count = Annotated[int, Field(ge=0, le=100_000)]
Ref = Annotated[str, Field(min_length=1, max_length=512)]
"""A reference to stored evidence (a path relative to the agent's evidence root)."""
Text = Annotated[str, Field(max_length=1000)]
Uuid7 = Annotated[str, Field(pattern=UUID7_PATTERN)]
Fraction = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]
Real = Annotated[float, Field(ge=-1e12, le=1e12, allow_inf_nan=False)]

RoomType = Literal[
    "registration",
    "safety_check",
    "info_collection",
    "belongings",
    "waiting",
    "interrogation",
    "inquiry",
    "corridor",
    "toilet",
    "medical",
    "dossier",
    "exit",
    "other",
]
"""What a room is for: the agent's fusion and the hub's rules (``room_type``) both key on it."""

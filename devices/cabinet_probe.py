"""Finding a cabinet's wiring from what its inputs do, sans I/O (``casewatch cabinet probe``).

The integrator is guided slot by slot: the probe pulses lock ``i``, the integrator opens the door
that unlocked — the input that changed is that slot's door contact, and its level before is the
closed level; then a file goes in — the next input that changes is the slot sensor, its new level
the present level; then file out and door shut. ``propose`` turns what was found into the
``board:`` levels (the majority) and ``slots:`` (with a per-slot level only where a slot differs).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Change:
    input: int
    before: bool
    after: bool


def changes(before: list[bool], after: list[bool]) -> list[Change]:
    return [Change(i, b, a) for i, (b, a) in enumerate(zip(before, after, strict=False)) if a != b]


@dataclass(frozen=True)
class SlotWiringFound:
    slot: str
    lock: int
    door_input: int
    door_closed_level: int
    occupied_input: int
    file_present_level: int


def propose(found: list[SlotWiringFound]) -> dict[str, Any]:
    """The ``board`` levels and ``slots`` to paste into the cabinet's options."""
    if not found:
        return {"board": {}, "slots": {}}
    door = Counter(f.door_closed_level for f in found).most_common(1)[0][0]
    present = Counter(f.file_present_level for f in found).most_common(1)[0][0]
    slots: dict[str, Any] = {}
    for f in found:
        wiring: dict[str, int] = {
            "lock_coil": f.lock,
            "door_input": f.door_input,
            "occupied_input": f.occupied_input,
        }
        if f.door_closed_level != door:
            wiring["door_closed_level"] = f.door_closed_level
        if f.file_present_level != present:
            wiring["file_present_level"] = f.file_present_level
        slots[f.slot] = wiring
    return {"board": {"door_closed_level": door, "file_present_level": present}, "slots": slots}


def levels_row(bits: list[bool], width: int = 16) -> list[str]:
    """Inputs as rows of 0/1 with their first index: ``  0: 0000 1000 0000 0000``."""
    rows = []
    for start in range(0, len(bits), width):
        chunk = "".join("1" if b else "0" for b in bits[start : start + width])
        groups = " ".join(chunk[i : i + 4] for i in range(0, len(chunk), 4))
        rows.append(f"{start:>4}: {groups}")
    return rows

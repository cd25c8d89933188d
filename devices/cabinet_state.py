"""What a dossier cabinet remembers across restarts (``CabinetState``) and how it is read back.

Read strictly: a state written by another casewatch version is refused (``StateError``), never
guessed at; a grant or entry of the wrong shape is dropped alone (named in the notes), not the
whole picture. Version 1 is the old ``inventory_file``: a bare ``{document: slot}`` map.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

Action = Literal["take", "return"]
VERSION = 2


class StateError(ValueError):
    """The stored state cannot be read (another version, another shape)."""


@dataclass
class Grant:
    slot: str
    action: Action
    document: str
    officers: tuple[str, ...]
    until_ms: int
    door_opened: bool = False

    def covers(self, now_ms: int) -> bool:
        """Still explains a door or slot change: inside its window, or its door opened in it."""
        return self.door_opened or now_ms <= self.until_ms


@dataclass
class CabinetState:
    """What a restart must not forget. ``doors``/``occupied`` are None until the board was read."""

    inventory: dict[str, str] = field(default_factory=dict)
    """document -> slot it lies in"""
    doors: dict[str, bool] | None = None
    occupied: dict[str, bool] | None = None
    open_since: dict[str, int] = field(default_factory=dict)
    held_reported: set[str] = field(default_factory=set)
    grants: dict[str, Grant] = field(default_factory=dict)
    officers: list[tuple[str, int]] = field(default_factory=list)
    """fingerprints given, waiting for a document (officer, when)"""
    document: tuple[str, int] | None = None
    """a document scanned, waiting for fingerprints (code, when)"""

    def to_json(self) -> dict[str, Any]:
        return {
            "version": 2,
            "inventory": dict(sorted(self.inventory.items())),
            "doors": self.doors,
            "occupied": self.occupied,
            "open_since": self.open_since,
            "held_reported": sorted(self.held_reported),
            "grants": [asdict(g) for g in self.grants.values()],
            "officers": [list(pair) for pair in self.officers],
            "document": list(self.document) if self.document else None,
        }

    @classmethod
    def from_json(cls, data: Any) -> CabinetState:
        """Version 2, or version 1; ``StateError`` for anything else (notes: ``parse_state``)."""
        return parse_state(data)[0]


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")


class _StoredGrant(_Strict):
    slot: str
    action: Action
    document: str
    officers: tuple[str, ...]
    until_ms: int
    door_opened: bool = False


class _Stored(_Strict):
    version: Literal[2]
    inventory: dict[str, str]
    doors: dict[str, bool] | None = None
    occupied: dict[str, bool] | None = None
    open_since: dict[str, int] = {}
    held_reported: list[str] = []
    grants: list[Any] = []
    officers: list[tuple[str, int]] = []
    document: tuple[str, int] | None = None


def parse_state(data: Any) -> tuple[CabinetState, list[str]]:
    """The state, and notes on what was dropped from it."""
    if not isinstance(data, dict):
        raise StateError(f"expected a JSON object, got {type(data).__name__}")
    if "version" not in data:
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
            raise StateError("a version-1 inventory maps document codes to slot ids (strings)")
        return CabinetState(inventory=dict(data)), []
    if data.get("version") != VERSION:
        raise StateError(
            f"version {data.get('version')!r} was written by another casewatch (this one reads {VERSION})"
        )
    try:
        stored = _Stored.model_validate_json(json.dumps(data))  # JSON mode: arrays are tuples
    except ValidationError as exc:
        raise StateError(f"not a cabinet state: {exc.errors()[0]['loc']}: {exc.errors()[0]['msg']}") from exc
    grants, notes = {}, []
    for raw in stored.grants:
        try:
            grant = _StoredGrant.model_validate_json(json.dumps(raw))
        except ValidationError as exc:
            notes.append(f"grant dropped ({exc.errors()[0]['msg']}): {raw!r}")
            continue
        grants[grant.slot] = Grant(**grant.model_dump())
    state = CabinetState(
        inventory=stored.inventory, doors=stored.doors, occupied=stored.occupied,
        open_since=stored.open_since, held_reported=set(stored.held_reported), grants=grants,
        officers=list(stored.officers), document=stored.document,
    )  # fmt: skip
    return state, notes

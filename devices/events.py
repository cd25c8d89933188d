"""What device drivers tell the agent: a kind, a subject and ``protocol.kinds`` data."""

from __future__ import annotations

from dataclasses import dataclass

from protocol.data import Data


@dataclass(frozen=True)
class DeviceEvent:
    kind: str
    source: str
    subject: dict[str, str]
    data: Data
    ts: int
    room: str | None = None
    """For ``band.position``: the band's room now (None: lost), for the agent's room state."""

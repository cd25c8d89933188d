"""Shared builders for protocol tests: a keyring, a clock, signed example events."""

from __future__ import annotations

from typing import Any

from protocol.clock import ManualClock
from protocol.codec import Decoder
from protocol.envelope import Event, new_event
from protocol.kinds import KINDS
from protocol.signing import Keyring
from protocol.topics import TopicLayout

KEY_A = b"a" * 32
KEY_B = b"b" * 32
NOW = 1_767_250_000_000
LAYOUT = TopicLayout()


def keyring() -> Keyring:
    return Keyring({"box-01": KEY_A, "box-02": KEY_B})


def decoder(clock: ManualClock | None = None) -> Decoder:
    clk = clock or ManualClock(NOW)
    return Decoder(keyring(), clk.now_ms, layout=LAYOUT)


def example(kind: str, *, seq: int = 1, agent: str = "box-01", key: bytes = KEY_A, **data: Any) -> Event:
    spec = KINDS[kind]
    return new_event(
        key=key,
        seq=seq,
        ts=NOW,
        center="c1",
        agent=agent,
        source="src-1",
        kind=kind,
        subject=spec.example_subject,
        data={**spec.example_data, **data},
    )

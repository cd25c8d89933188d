"""What the hub's store takes and gives: plain values shared by the store, ingest and admission."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

RAW_LIMIT = 4096
"""How many bytes of a quarantined payload are kept (its full length is kept in ``size``)."""
TEXT_LIMIT = 512
"""Characters kept of a quarantined message's topic and reason."""
QUARANTINE_MAX = 50_000
"""Refused messages kept (each at most ``RAW_LIMIT`` bytes of payload): about 200 MB at most."""


Stream = tuple[str, str]
"""``(agent, epoch)``: one outbox's numbering of an agent's events."""


@dataclass(frozen=True, slots=True)
class StreamMark:
    next_expected: int
    highest: int
    last_received_ms: int | None = None


@dataclass(frozen=True, slots=True)
class Incoming:
    """An event that passed decoding and signature checks, to be appended to the chain."""

    agent: str
    seq: int
    id: str
    kind: str
    ts: int
    received_ms: int
    body: bytes
    person: str | None = None
    """``subject.person`` / ``subject.band`` of the event, indexed for a person's timeline."""
    band: str | None = None
    epoch: str = ""
    """The sending outbox's identity (``""`` for hub records and agents from before epochs)."""
    center: str = ""
    """The centre whose chain it joins (PostgreSQL keeps one chain per centre; ``""``: the store's)."""


@dataclass(frozen=True, slots=True)
class Quarantined:
    """A message refused at ingest; ``raw`` may be whole, the store keeps ``RAW_LIMIT`` bytes."""

    received_ms: int
    topic: str | None
    code: str
    reason: str
    agent: str | None
    raw: bytes
    size: int | None = None
    """The whole payload's length when ``raw`` is already cut (None: ``len(raw)``)."""


@dataclass(frozen=True, slots=True)
class SeqGap:
    """``seq`` numbers ``first..last`` of ``agent`` that never arrived (as seen at ``detected_ms``)."""

    agent: str
    first: int
    last: int
    detected_ms: int
    epoch: str = ""


@dataclass
class Batch:
    """What one ingest round commits at once. ``streams``: next expected ``seq`` per (agent, epoch)."""

    events: list[Incoming] = field(default_factory=list)
    quarantined: list[Quarantined] = field(default_factory=list)
    gaps: list[SeqGap] = field(default_factory=list)
    streams: dict[Stream, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Stored:
    pos: int
    agent: str
    seq: int
    id: str
    kind: str
    ts: int
    received_ms: int
    body: bytes
    hash: str
    epoch: str = ""


def quarantine_row(q: Quarantined) -> tuple[Any, ...]:
    """Every text cut too (a topic may be 64 KB of junk): the cap bounds bytes, not only rows."""
    topic = q.topic[:TEXT_LIMIT] if q.topic is not None else None
    agent = q.agent[:64] if q.agent is not None else None
    size = q.size if q.size is not None else len(q.raw)
    return (q.received_ms, topic, q.code[:64], q.reason[:TEXT_LIMIT], agent, size, bytes(q.raw[:RAW_LIMIT]))


def stored_row(row: tuple[Any, ...]) -> Stored:
    pos, agent, seq, id_, kind, ts, received_ms, body, hash_, epoch = row
    return Stored(
        int(pos), str(agent), int(seq), str(id_), str(kind), int(ts), int(received_ms), bytes(body), hash_,
        str(epoch),
    )  # fmt: skip

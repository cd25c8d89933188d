"""Admission of raw deliveries: verified events, duplicates, or quarantine with a reason. Pure.

Every delivery gets exactly one verdict and is counted: an ``Incoming`` for the log, ``None`` for
a redelivery of an (agent, epoch, seq) already admitted, or a ``Quarantined`` row with a short
code, the reason and the raw bytes (bounded by the store). *Any* failure while admitting one
message — a parser's ``ValueError`` on a 5,000-digit integer, a bug — quarantines that message
(code ``internal`` when it is not a protocol refusal) and never touches the rest of the batch.

Sequences are tracked per stream, ``(agent, epoch)``: the epoch names the outbox that numbered
the events. A stream's numbering starts at 1, so a first seq above 1 opens a gap (a new agent's
lost first batch). A new epoch from a known agent is an outbox reset (a box reinstalled, its
outbox file lost): recorded as a ``Reset``, never mistaken for replays of the old numbering. An
agent from before epochs (``epoch`` absent) whose outbox takes an identity on upgrade continues
its numbering: that is an adoption, not a reset.

Admission is transactional per batch (``begin``/``commit``/``rollback``): what a batch admitted
counts as seen only once the store committed it, so a failed commit never turns the batch's
events into "duplicates" of events that were never stored.
"""

from __future__ import annotations

import copy
from collections import Counter
from dataclasses import dataclass, field

from hub.store import Incoming, Quarantined, SeqGap, Stream, StreamMark
from protocol.codec import Decoder
from protocol.errors import (
    EncodingError,
    MalformedError,
    OversizeError,
    ProtocolError,
    ReplayError,
    SchemaError,
    SignatureError,
    SkewError,
    TopicError,
    UnknownAgentError,
    UnknownKindError,
)
from protocol.sequence import SeqTracker

_CODES: tuple[tuple[type[ProtocolError], str], ...] = (
    (OversizeError, "oversize"),
    (EncodingError, "encoding"),
    (MalformedError, "malformed"),
    (UnknownKindError, "unknown_kind"),
    (SchemaError, "schema"),
    (UnknownAgentError, "unknown_agent"),
    (SignatureError, "signature"),
    (TopicError, "topic"),
    (SkewError, "skew"),
)
INTERNAL = "internal"
"""The code of a message whose admission failed other than by a protocol refusal."""
RAW_KEEP = 4096
"""Bytes of a refused payload held in memory until its batch commits (the store keeps as many)."""


def reason_code(exc: ProtocolError) -> str:
    return next((code for cls, code in _CODES if isinstance(exc, cls)), "invalid")


@dataclass(frozen=True, slots=True)
class Reset:
    """An agent started a new outbox (``epoch``) while the hub knew another one of it."""

    agent: str
    epoch: str
    first_seq: int
    previous_epoch: str
    previous_highest: int
    detected_ms: int


@dataclass
class _Undo:
    known: dict[str, dict[str, int]]
    current: dict[str, str]
    accepted: int
    duplicates: int
    quarantined: Counter[str]


@dataclass
class Admission:
    decoder: Decoder
    tracker: SeqTracker = field(default_factory=SeqTracker)
    accepted: int = 0
    duplicates: int = 0
    quarantined: Counter[str] = field(default_factory=Counter)
    gaps: list[SeqGap] = field(default_factory=list)
    """Gaps found since the last ``take_gaps``."""
    resets: list[Reset] = field(default_factory=list)
    """Outbox resets found since the last ``take_resets``."""
    known: dict[str, dict[str, int]] = field(default_factory=dict)
    """Per agent, the epochs seen and the order they were last active in (higher: more recent)."""
    current: dict[str, str] = field(default_factory=dict)
    """Per agent, the epoch of its most recent event."""
    touched: set[Stream] = field(default_factory=set)
    """Streams with an event (new or a redelivery) since the last ``take_touched``: their receipts."""
    _undo: _Undo | None = None
    _tick: int = 0

    # a batch ----------------------------------------------------------------------------------
    def begin(self) -> None:
        self._undo = _Undo(
            copy.deepcopy(self.known), dict(self.current), self.accepted, self.duplicates,
            Counter(self.quarantined),
        )  # fmt: skip
        self.tracker.begin()

    def commit(self) -> None:
        self._undo = None
        self.tracker.commit()

    def rollback(self) -> None:
        """The batch was not stored: forget what it admitted, its gaps and resets, its counts."""
        undo = self._undo
        self.tracker.rollback()
        if undo is not None:
            self.known, self.current = undo.known, undo.current
            self.accepted, self.duplicates, self.quarantined = (
                undo.accepted,
                undo.duplicates,
                undo.quarantined,
            )
        self.gaps, self.resets, self.touched, self._undo = [], [], set(), None

    # one message ------------------------------------------------------------------------------
    def admit(self, raw: bytes, topic: str | None, received_ms: int) -> Incoming | Quarantined | None:
        try:
            event = self.decoder.decode(raw, topic)
            epoch = event.epoch or ""
            stream = (event.agent, epoch)
            self._first_sight(stream, event.seq, received_ms)
            # an agent with an epoch sends again until its receipt confirms: a hole is a loss only
            # once its stats say it no longer holds what is missing (advance), not when seen
            gap = self.tracker.admit(stream, event.seq, deferred=bool(epoch))
            floor = getattr(event.data, "outbox_first_seq", None) if event.kind == "agent.stats" else None
            passed = self.tracker.advance(stream, floor) if floor is not None else []
        except ReplayError:
            self.duplicates += 1
            self.touched.add(stream)
            return None
        except ProtocolError as exc:
            return self._quarantine(raw, topic, received_ms, reason_code(exc), str(exc))
        except Exception as exc:
            reason = f"{type(exc).__name__}: {str(exc)[:300]}"
            return self._quarantine(raw, topic, received_ms, INTERNAL, reason)
        self._tick += 1
        self.known[event.agent][epoch] = self._tick
        self.current[event.agent] = epoch
        self.touched.add(stream)
        for found in [gap, *passed] if gap is not None else passed:
            self.gaps.append(SeqGap(event.agent, found.first, found.last, received_ms, epoch))
        self.accepted += 1
        return Incoming(
            agent=event.agent,
            seq=event.seq,
            id=event.id,
            kind=event.kind,
            ts=event.ts,
            received_ms=received_ms,
            body=event.canonical(),
            band=event.subject.band,
            epoch=epoch,
        )

    def _quarantine(
        self, raw: bytes, topic: str | None, received_ms: int, code: str, reason: str
    ) -> Quarantined:
        self.quarantined[code] += 1
        return Quarantined(
            received_ms, topic, code, reason, _claimed_agent(topic), bytes(raw[:RAW_KEEP]), len(raw)
        )

    def _first_sight(self, stream: Stream, seq: int, received_ms: int) -> None:
        """A stream not seen before: an adoption (legacy numbering continues) or a reset."""
        if self.tracker.next_expected(stream) is not None:
            return
        agent, epoch = stream
        epochs = self.known.setdefault(agent, {})
        if not epochs:
            return  # a new agent: its numbering starts at 1 (a later first seq opens a gap)
        previous = self.current.get(agent) or max(epochs, key=lambda e: epochs[e])
        legacy_next = self.tracker.next_expected((agent, ""))
        if epoch and previous == "" and legacy_next is not None and seq >= legacy_next:
            # an upgraded agent: the same outbox, now named; numbering goes on past what is stored
            after = self.tracker.highest((agent, ""))
            self.tracker.restore(stream, max(legacy_next, after + 1), after, deferred=True)
            return
        self.resets.append(
            Reset(agent, epoch, seq, previous, self.tracker.highest((agent, previous)), received_ms)
        )

    # bookkeeping ------------------------------------------------------------------------------
    def take_gaps(self) -> list[SeqGap]:
        gaps, self.gaps = self.gaps, []
        return gaps

    def take_touched(self) -> set[Stream]:
        touched, self.touched = self.touched, set()
        return touched

    def take_resets(self) -> list[Reset]:
        resets, self.resets = self.resets, []
        return resets

    def next_expected(self, stream: Stream) -> int | None:
        return self.tracker.next_expected(stream)

    def highest(self, stream: Stream) -> int:
        return self.tracker.highest(stream)

    def contiguous(self, stream: Stream) -> int:
        """What a receipt may confirm: every seq up to it is stored or was announced lost."""
        return self.tracker.contiguous(stream)

    def restore(self, streams: dict[Stream, StreamMark]) -> None:
        """Resume from the store's record of every stream (at start)."""
        self.tracker = SeqTracker()
        self.known, self.current = {}, {}
        ordered = sorted(streams.items(), key=lambda item: item[1].last_received_ms or 0)
        for (agent, epoch), mark in ordered:
            self.tracker.restore((agent, epoch), mark.next_expected, mark.highest, deferred=bool(epoch))
            self._tick += 1
            self.known.setdefault(agent, {})[epoch] = self._tick
            self.current[agent] = epoch


def _claimed_agent(topic: str | None) -> str | None:
    """The agent a topic names (``prefix/center/agent/...``), for grouping quarantined rows."""
    parts = (topic or "").split("/")
    return parts[2][:64] if len(parts) > 3 else None

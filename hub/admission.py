"""Admission of raw deliveries: verified events, duplicates, or quarantine with a reason. Pure.

Every delivery gets exactly one verdict and is counted: an ``Incoming`` for the log, ``None`` for
a redelivery of an (agent, seq) already admitted, or a ``Quarantined`` row with a short code, the
decoder's reason and the raw bytes (bounded by the store). Nothing is dropped silently; a seq
gap is reported once per gap, for the log and a data-loss alert.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from hub.store import Incoming, Quarantined, SeqGap
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


def reason_code(exc: ProtocolError) -> str:
    return next((code for cls, code in _CODES if isinstance(exc, cls)), "invalid")


@dataclass
class Admission:
    decoder: Decoder
    tracker: SeqTracker = field(default_factory=SeqTracker)
    accepted: int = 0
    duplicates: int = 0
    quarantined: Counter[str] = field(default_factory=Counter)
    gaps: list[SeqGap] = field(default_factory=list)
    """Gaps found since the last ``take_gaps``."""

    def admit(self, raw: bytes, topic: str | None, received_ms: int) -> Incoming | Quarantined | None:
        try:
            event = self.decoder.decode(raw, topic)
        except ProtocolError as exc:
            code = reason_code(exc)
            self.quarantined[code] += 1
            return Quarantined(received_ms, topic, code, str(exc), _claimed_agent(topic), raw)
        try:
            gap = self.tracker.admit(event.agent, event.seq)
        except ReplayError:
            self.duplicates += 1
            return None
        if gap is not None:
            self.gaps.append(SeqGap(gap.agent, gap.first, gap.last, received_ms))
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
        )

    def take_gaps(self) -> list[SeqGap]:
        gaps, self.gaps = self.gaps, []
        return gaps

    def restore(self, next_expected: dict[str, int]) -> None:
        """Resume from the store's record (at start, or after a failed commit)."""
        self.tracker = SeqTracker()
        for agent, nxt in next_expected.items():
            self.tracker.restore(agent, nxt)


def _claimed_agent(topic: str | None) -> str | None:
    """The agent a topic names (``prefix/center/agent/...``), for grouping quarantined rows."""
    parts = (topic or "").split("/")
    return parts[2][:64] if len(parts) > 3 else None

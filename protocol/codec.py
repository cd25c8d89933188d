"""Bytes <-> events. The only place raw payloads are parsed, and where parse errors get reasons.

``encode(event)`` gives the canonical bytes to publish. ``Decoder.decode(raw, topic)`` applies
every check in a fixed order and raises the first failure as a ``ProtocolError`` subclass:

1. size (``OversizeError``)              5. kind and data schema (``UnknownKindError``/``SchemaError``)
2. UTF-8 (``EncodingError``)             6. signature by the claimed agent's key (``SignatureError``)
3. strict JSON (``MalformedError``)      7. topic agrees with the envelope (``TopicError``)
4. envelope schema (``SchemaError``)     8. event time within the skew bounds (``SkewError``)

Schema comes before the signature so the reason names the field an integrator got wrong; nothing
is trusted until step 6 passes. Dedupe and gap detection (``protocol.sequence``) come after.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from protocol.canonical import CanonicalError, StrictJSONError, canonical_bytes, loads_strict
from protocol.envelope import Event, Subject
from protocol.errors import (
    EncodingError,
    MalformedError,
    OversizeError,
    ProtocolError,
    SchemaError,
    SignatureError,
    SkewError,
    TopicError,
    UnknownKindError,
)
from protocol.kinds import KINDS
from protocol.signing import Keyring
from protocol.topics import EventTopic, StatsTopic, TopicLayout

MAX_PAYLOAD_BYTES = 64 * 1024
DEFAULT_MAX_FUTURE_MS = 5 * 60 * 1000
DEFAULT_MAX_AGE_MS = 30 * 24 * 3600 * 1000

_ENVELOPE_FIELDS = (
    "v",
    "id",
    "seq",
    "ts",
    "center",
    "agent",
    "source",
    "kind",
    "subject",
    "data",
    "sig",
)


def encode(event: Event) -> bytes:
    """The canonical JSON bytes of an event, ready to publish."""
    return event.canonical()


def _problems(exc: ValidationError, prefix: str = "") -> list[tuple[str, str]]:
    out = []
    for err in exc.errors(include_url=False):
        path = ".".join(str(p) for p in (prefix, *err["loc"]) if p != "")
        out.append((path, err["msg"]))
    return out


def _describe(problems: list[tuple[str, str]]) -> str:
    shown = "; ".join(f"{path or '(root)'}: {msg}" for path, msg in problems[:5])
    more = len(problems) - 5
    return shown + (f"; and {more} more" if more > 0 else "")


@dataclass
class Decoder:
    """Verifies raw payloads into events under one policy (keys, topic layout, time bounds)."""

    keyring: Keyring
    now_ms: Callable[[], int]
    layout: TopicLayout = field(default_factory=TopicLayout)
    max_bytes: int = MAX_PAYLOAD_BYTES
    max_future_ms: int = DEFAULT_MAX_FUTURE_MS
    max_age_ms: int | None = DEFAULT_MAX_AGE_MS

    def decode(self, raw: bytes, topic: str | None = None) -> Event:
        try:
            return self._decode(raw, topic)
        except ProtocolError as exc:
            if exc.raw is None:
                exc.raw = raw[:256]
            exc.topic = exc.topic or topic
            raise

    def _decode(self, raw: bytes, topic: str | None) -> Event:
        if len(raw) > self.max_bytes:
            raise OversizeError(f"payload is {len(raw)} bytes; the limit is {self.max_bytes}")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise EncodingError(f"not UTF-8 at byte {exc.start}") from exc
        try:
            doc = loads_strict(text)
        except StrictJSONError as exc:
            raise MalformedError(f"not valid JSON: {exc}") from exc
        if not isinstance(doc, dict):
            raise MalformedError(f"expected a JSON object, got {type(doc).__name__}")
        event = self._validate(doc)
        try:
            full = canonical_bytes(doc)
        except CanonicalError as exc:
            raise MalformedError(f"no canonical form: {exc}") from exc
        self.keyring.verify_signed_canonical(full, event.sig, event.agent)
        if topic is not None:
            self._check_topic(event, topic)
        self._check_time(event)
        event._received = doc
        event._canonical = full
        return event

    def _validate(self, doc: dict[str, Any]) -> Event:
        missing = [name for name in _ENVELOPE_FIELDS if name not in doc]
        if missing:
            absent = [(name, "Field required") for name in missing]
            raise SchemaError(f"envelope: {_describe(absent)}", problems=absent)
        kind = doc["kind"]
        if not isinstance(kind, str) or kind not in KINDS:
            raise UnknownKindError(f"unknown kind {kind!r}", problems=[("kind", "unknown kind")])
        spec = KINDS[kind]
        problems: list[tuple[str, str]] = []
        data = subject = None
        try:
            data = spec.model.model_validate(doc["data"])
        except ValidationError as exc:
            problems += _problems(exc, "data")
        try:
            subject = Subject.model_validate(doc["subject"])
        except ValidationError as exc:
            problems += _problems(exc, "subject")
        if data is not None and subject is not None:
            try:
                return Event.model_validate({**doc, "data": data, "subject": subject})
            except ValidationError as exc:
                problems += _problems(exc)
        raise SchemaError(f"{kind}: {_describe(problems)}", problems=problems)

    def _check_topic(self, event: Event, topic: str) -> None:
        parsed = self.layout.parse(topic)
        if not isinstance(parsed, EventTopic | StatsTopic):
            raise TopicError(f"topic {topic!r} is not an event topic")
        if parsed.center != event.center or parsed.agent != event.agent:
            raise TopicError(
                f"topic says {parsed.center}/{parsed.agent} but the event says {event.center}/{event.agent}"
            )
        expected = self.layout.topic_for(event)
        if topic != expected:
            raise TopicError(f"kind {event.kind!r} belongs on {expected!r}, not {topic!r}")

    def _check_time(self, event: Event) -> None:
        now = self.now_ms()
        ahead = event.ts - now
        if ahead > self.max_future_ms:
            raise SkewError(
                f"event time is {ahead / 1000:.1f} s ahead of this clock "
                f"(bound {self.max_future_ms / 1000:.0f} s): check the agent's NTP"
            )
        if self.max_age_ms is not None and now - event.ts > self.max_age_ms:
            raise SkewError(
                f"event is {(now - event.ts) / 3_600_000:.1f} h old "
                f"(bound {self.max_age_ms / 3_600_000:.0f} h)"
            )


__all__ = ["MAX_PAYLOAD_BYTES", "Decoder", "SignatureError", "encode"]

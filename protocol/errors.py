"""The wire contract's exceptions, and the root of the project's tree (every package depends on ``protocol``).

::

    CasewatchError                       protocol.errors        any error casewatch raises on purpose
    ├── ProtocolError                    protocol.errors        a message that is not a valid event
    │   ├── OversizeError                                       payload over the size limit
    │   ├── EncodingError                                       payload is not UTF-8
    │   ├── MalformedError                                      not JSON, truncated, NaN/inf, duplicate keys
    │   ├── SchemaError                                         envelope or data fails its schema
    │   │   └── UnknownKindError                                kind not in the catalogue
    │   ├── SignatureError                                      sig missing or wrong
    │   │   └── UnknownAgentError                               no key for the claimed agent
    │   ├── TopicError                                          topic unparsable or disagrees with envelope
    │   ├── SkewError                                           event time too far ahead / too old
    │   └── ReplayError                                         (agent, seq) already admitted
    └── ConfigError, ModelError, DeviceError: in foundation.errors (not wire contract)

Each ``ProtocolError`` carries a short machine ``reason`` (used as the quarantine counter key),
the ``topic`` it came on and the first bytes of the payload, so a quarantined message can be shown.
Dependency errors (json, pydantic, rfc8785) are translated into this tree in ``protocol.codec``
only, always with ``raise ... from``.
"""

from __future__ import annotations

RAW_EXCERPT_BYTES = 256
"""How much of an offending payload an error keeps (the quarantine stores its own bounded copy)."""


class CasewatchError(Exception):
    """Root of every error casewatch raises on purpose."""


class ProtocolError(CasewatchError):
    """A payload or topic that is not a valid casewatch event."""

    reason = "protocol"

    def __init__(self, message: str, *, raw: bytes | None = None, topic: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.raw = raw[:RAW_EXCERPT_BYTES] if raw is not None else None
        self.topic = topic

    def __str__(self) -> str:
        return f"{self.reason}: {self.message}"


class OversizeError(ProtocolError):
    reason = "oversize"


class EncodingError(ProtocolError):
    reason = "encoding"


class MalformedError(ProtocolError):
    reason = "malformed"


class SchemaError(ProtocolError):
    """Fails the envelope or data schema; ``problems`` lists ``(path, message)`` pairs."""

    reason = "schema"

    def __init__(
        self,
        message: str,
        *,
        problems: list[tuple[str, str]] | None = None,
        raw: bytes | None = None,
        topic: str | None = None,
    ) -> None:
        super().__init__(message, raw=raw, topic=topic)
        self.problems = problems or []


class UnknownKindError(SchemaError):
    reason = "unknown_kind"


class SignatureError(ProtocolError):
    reason = "signature"


class UnknownAgentError(SignatureError):
    reason = "unknown_agent"


class TopicError(ProtocolError):
    reason = "topic"


class SkewError(ProtocolError):
    reason = "skew"


class ReplayError(ProtocolError):
    reason = "replay"

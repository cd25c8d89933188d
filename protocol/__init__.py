"""The wire contract shared by agent and hub: envelope, kinds, topics, signing.

``docs/protocol.md`` is its human-readable form; tests keep the two in step.
"""

from protocol.clock import Clock, ManualClock, SystemClock
from protocol.codec import MAX_PAYLOAD_BYTES, Decoder, encode
from protocol.envelope import PROTOCOL_VERSION, Event, Subject, new_event
from protocol.errors import (
    CasewatchError,
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
from protocol.kinds import KINDS, KindSpec
from protocol.sequence import Gap, SeqTracker
from protocol.signing import Keyring
from protocol.topics import TopicLayout

__all__ = [
    "KINDS",
    "MAX_PAYLOAD_BYTES",
    "PROTOCOL_VERSION",
    "CasewatchError",
    "Clock",
    "Decoder",
    "EncodingError",
    "Event",
    "Gap",
    "Keyring",
    "KindSpec",
    "MalformedError",
    "ManualClock",
    "OversizeError",
    "ProtocolError",
    "ReplayError",
    "SchemaError",
    "SeqTracker",
    "SignatureError",
    "SkewError",
    "Subject",
    "SystemClock",
    "TopicError",
    "TopicLayout",
    "UnknownAgentError",
    "UnknownKindError",
    "encode",
    "new_event",
]

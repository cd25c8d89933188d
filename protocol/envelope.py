"""The event envelope: who says what happened, when, about which subject, signed.

An ``Event`` is frozen and validated; bytes exist only in ``protocol.codec``. Build new events with
``new_event`` (it assigns ``id`` and signs); receive them with ``protocol.codec.Decoder``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, SerializeAsAny, model_validator

from protocol.canonical import canonical_bytes
from protocol.data import Data
from protocol.fields import MAX_SAFE_INT, Key, Ms
from protocol.ids import UUID7_PATTERN, uuid7
from protocol.kinds import KINDS
from protocol.signing import SIG_FIELD, signature

PROTOCOL_VERSION = 1
EPOCH_PATTERN = r"^[0-9a-f]{16}$"
"""An outbox's identity: 16 hex characters drawn when the outbox file is created."""


class Subject(BaseModel):
    """The keys an event is about. Keys only: no names or ID numbers travel in events."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    room: Key | None = None
    zone: Key | None = None
    camera: Key | None = None
    band: Key | None = None
    device: Key | None = None
    cabinet: Key | None = None
    slot: Key | None = None
    case: Key | None = None
    dossier: Key | None = None


class Event(BaseModel):
    """One signed event in the wire envelope (``docs/protocol.md``)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    v: Literal[1]
    id: Annotated[str, Field(pattern=UUID7_PATTERN)]
    seq: Annotated[int, Field(ge=1, le=MAX_SAFE_INT)]
    epoch: Annotated[str, Field(pattern=EPOCH_PATTERN)] | None = None
    """The outbox that numbered ``seq``: a new outbox (a reset box) starts a new epoch at seq 1."""
    ts: Ms
    center: Key
    agent: Key
    source: Key
    kind: str
    subject: Subject
    data: SerializeAsAny[Data]
    sig: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]

    _canonical: bytes | None = PrivateAttr(default=None)
    _received: dict[str, Any] | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _check_kind(self) -> Event:
        spec = KINDS.get(self.kind)
        if spec is None:
            raise ValueError(f"unknown kind {self.kind!r}")
        if type(self.data) is not spec.model:
            raise ValueError(f"data of kind {self.kind!r} must be {spec.model.__name__}")
        missing = [key for key in spec.subject if getattr(self.subject, key) is None]
        if missing:
            raise ValueError(f"kind {self.kind!r} needs subject keys {', '.join(missing)}")
        return self

    def __eq__(self, other: object) -> bool:
        """Events are equal when their fields are; caches of how one was received do not count."""
        if not isinstance(other, Event):
            return NotImplemented
        return self.__dict__ == other.__dict__

    def __hash__(self) -> int:
        return hash((self.agent, self.seq, self.id, self.sig))

    def wire(self) -> dict[str, Any]:
        """The JSON object sent on the wire (nulls omitted)."""
        return self.model_dump(mode="json", exclude_none=True)

    def canonical(self) -> bytes:
        """Canonical bytes of the whole event including ``sig`` (what the hub hash-chains).

        For a received event these are the bytes as received, re-canonicalised; for an event
        built here they are those of ``wire()``.
        """
        if self._canonical is None:
            self._canonical = canonical_bytes(self._received if self._received is not None else self.wire())
        return self._canonical

    @property
    def priority(self) -> str:
        return KINDS[self.kind].priority


def new_event(
    *,
    key: bytes,
    seq: int,
    ts: int,
    center: str,
    agent: str,
    source: str,
    kind: str,
    subject: Subject | dict[str, str],
    data: Data | dict[str, Any],
    now_ms: int | None = None,
    epoch: str | None = None,
) -> Event:
    """Build, validate and sign an event. ``now_ms`` (default ``ts``) seeds the UUIDv7 id."""
    spec = KINDS.get(kind)
    if spec is None:
        raise ValueError(f"unknown kind {kind!r}")
    typed = data if isinstance(data, Data) else spec.model.model_validate(data)
    subj = subject if isinstance(subject, Subject) else Subject.model_validate(subject)
    body: dict[str, Any] = {
        "v": PROTOCOL_VERSION,
        "id": uuid7(ts if now_ms is None else now_ms),
        "seq": seq,
        "ts": ts,
        "center": center,
        "agent": agent,
        "source": source,
        "kind": kind,
        "subject": subj.model_dump(mode="json", exclude_none=True),
        "data": typed.model_dump(mode="json", exclude_none=True),
    }
    if epoch is not None:
        body["epoch"] = epoch
    body[SIG_FIELD] = signature(body, key)
    return Event.model_validate({**body, "subject": subj, "data": typed})

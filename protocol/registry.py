"""Retained band registrations, hub -> agents: a band's role and flags, signed by the hub.

Published retained on ``{prefix}/{center}/registry/bands/{band}``; an empty retained payload
means the band is unbound. Only keys and flags travel: no names, no ID numbers.

Signed with the hub's **registry key**, derived from its own key (``registry_key``), never with
the hub's key itself: HMAC keys are symmetric, and the hub's key also signs the hub's records and
its log anchors, so an edge box holding it could forge both. ``casewatch hub registry-key`` writes
the derived key for the agents. An agent still configured with the hub's own key derives it too
(``registry_keyring``), so such configs keep working while they are replaced.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from protocol.canonical import StrictJSONError, canonical_bytes, loads_strict
from protocol.errors import MalformedError, SchemaError
from protocol.fields import Key, Ms
from protocol.signing import SIG_FIELD, Keyring, signed

HUB_IDENTITY = "hub"
_REGISTRY_LABEL = b"casewatch registry key v1"


def registry_key(hub_key: bytes) -> bytes:
    """The key that signs what agents verify (band registrations, anchors' ``rsig``): one way from
    the hub's key, so holding it signs nothing of the hub's own."""
    return hmac.new(hub_key, _REGISTRY_LABEL, hashlib.sha256).hexdigest().encode()


def registry_keyring(configured: bytes) -> Keyring:
    """An agent's keyring for the hub's messages: the registry key it was given, or — for an agent
    still given the hub's own key — the registry key derived from it."""
    return Keyring({HUB_IDENTITY: (configured, registry_key(configured))})


Role = Literal["detainee", "officer", "auxiliary", "visitor", "guardian"]


class BandFlags(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    minor: bool = False
    special_group: bool = False
    high_risk: bool = False
    intoxicated: bool = False


class BandRegistration(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    v: Literal[1] = 1
    center: Key
    band: Key
    role: Role
    sex: Literal["male", "female"] | None = None
    case: Key | None = None
    person: Key | None = None
    """The hub's opaque person key (not a name or ID number)."""
    flags: BandFlags = Field(default_factory=BandFlags)
    updated: Ms
    sig: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")] | None = None


def encode_registration(reg: BandRegistration, hub_key: bytes) -> bytes:
    """Signed with the registry key derived from ``hub_key``."""
    body = reg.model_dump(mode="json", exclude_none=True)
    return canonical_bytes(signed(body, registry_key(hub_key)))


def read_hub_message(raw: bytes, keyring: Keyring, what: str) -> dict[str, Any]:
    """A JSON object the hub signed (identity ``hub``): band registrations, watch requests."""
    try:
        doc: Any = loads_strict(raw.decode("utf-8"))
    except (UnicodeDecodeError, StrictJSONError) as exc:
        raise MalformedError(f"{what}: {exc}", raw=raw) from exc
    if not isinstance(doc, dict) or SIG_FIELD not in doc:
        raise MalformedError(f"{what} must be a signed JSON object", raw=raw)
    keyring.verify(doc, HUB_IDENTITY)
    return doc


def decode_registration(raw: bytes, keyring: Keyring) -> BandRegistration | None:
    """The registration in a retained payload; ``None`` for the empty payload (unbound)."""
    if not raw:
        return None
    doc = read_hub_message(raw, keyring, "registry payload")
    try:
        return BandRegistration.model_validate(doc)
    except ValidationError as exc:
        problems = [(".".join(map(str, e["loc"])), e["msg"]) for e in exc.errors()]
        raise SchemaError(f"registry payload: {problems}", problems=problems, raw=raw) from exc

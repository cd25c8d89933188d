"""HMAC-SHA256 signatures over canonical JSON with per-agent keys.

A signed document is any JSON object with a ``sig`` field holding the lowercase hex HMAC of the
canonical bytes of the object *without* ``sig``. The key is looked up by the identity the document
claims (an agent id, or ``hub`` for registry messages), so an agent that signs with its own key but
claims another agent's id fails verification. A keyring may hold several keys per identity: the
first signs, all verify, which lets an integrator rotate a key without downtime.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable, Mapping
from typing import Any

from protocol.canonical import canonical_bytes, without
from protocol.errors import SignatureError, UnknownAgentError

SIG_FIELD = "sig"
MIN_KEY_BYTES = 16


def new_key() -> str:
    """A fresh random key as 64 hex characters (what ``casewatch keygen`` prints)."""
    return secrets.token_hex(32)


def key_from_text(text: str) -> bytes:
    """Key bytes from a key file's content: the stripped text, UTF-8 encoded."""
    key = text.strip().encode("utf-8")
    if len(key) < MIN_KEY_BYTES:
        raise ValueError(f"a signing key needs at least {MIN_KEY_BYTES} characters")
    return key


def signature(doc: Mapping[str, Any], key: bytes) -> str:
    """Hex HMAC-SHA256 of the canonical form of ``doc`` without its ``sig`` field."""
    return hmac.new(key, canonical_bytes(without(doc, SIG_FIELD)), hashlib.sha256).hexdigest()


def signed(doc: Mapping[str, Any], key: bytes) -> dict[str, Any]:
    """A copy of ``doc`` with its signature set."""
    body = without(doc, SIG_FIELD)
    body[SIG_FIELD] = signature(body, key)
    return body


class Keyring:
    """Signing keys by identity (agent id, or ``hub``)."""

    def __init__(self, keys: Mapping[str, bytes | Iterable[bytes]] | None = None) -> None:
        self._keys: dict[str, tuple[bytes, ...]] = {}
        for identity, value in (keys or {}).items():
            self.add(identity, value)

    def add(self, identity: str, keys: bytes | Iterable[bytes]) -> None:
        values = (keys,) if isinstance(keys, bytes) else tuple(keys)
        if not values:
            raise ValueError(f"no key given for {identity!r}")
        self._keys[identity] = values

    def __contains__(self, identity: object) -> bool:
        return identity in self._keys

    def identities(self) -> list[str]:
        return sorted(self._keys)

    def signing_key(self, identity: str) -> bytes:
        try:
            return self._keys[identity][0]
        except KeyError:
            raise UnknownAgentError(f"no signing key for {identity!r}") from None

    def verify(self, doc: Mapping[str, Any], identity: str) -> None:
        """Raise ``SignatureError`` unless ``doc['sig']`` is valid for one of ``identity``'s keys."""
        sig = doc.get(SIG_FIELD)
        if not isinstance(sig, str):
            raise SignatureError("missing sig")
        self.verify_unsigned(canonical_bytes(without(doc, SIG_FIELD)), sig, identity)

    def verify_signed_canonical(self, full: bytes, sig: str, identity: str) -> None:
        """Verify from the canonical bytes of the *whole* signed top-level object.

        Canonical JSON sorts keys, so the form without ``sig`` is the same bytes with the
        top-level ``,"sig":"…"`` member taken out: one canonicalisation instead of two (the
        hub's ingest needs the whole form for its log anyway). ``sig`` is never the first key of
        an envelope, and the top-level member is the last occurrence (only ``subject``, whose
        schema has no ``sig``, sorts after it).
        """
        member = b',"' + SIG_FIELD.encode() + b'":"' + sig.encode("utf-8", "replace") + b'"'
        cut = full.rfind(member)
        if cut < 0:
            raise SignatureError("sig is not a member of the signed object")
        self.verify_unsigned(full[:cut] + full[cut + len(member) :], sig, identity)

    def verify_unsigned(self, body: bytes, sig: str, identity: str) -> None:
        """Raise ``SignatureError`` unless ``sig`` is the HMAC of canonical ``body`` by ``identity``."""
        keys = self._keys.get(identity)
        if keys is None:
            raise UnknownAgentError(f"no key for {identity!r}: unknown agent")
        for key in keys:
            expected = hmac.new(key, body, hashlib.sha256).hexdigest()
            if hmac.compare_digest(expected, sig):
                return
        raise SignatureError(f"signature does not match the key of {identity!r}")

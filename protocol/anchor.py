"""Anchors: the chain's head signed with the hub's key and kept outside the store.

A store can only vouch for itself: someone who can write the file can recompute every hash from
an edited row on, or cut the tail and rewrite the recorded head, and the chain checks out again.
An anchor is a small signed statement — "on ``ts`` the log of ``center`` had ``pos`` rows and row
``pos`` had hash ``hash``" — that leaves the hub's disk: published retained on MQTT (every agent
keeps the ones it receives, ``casewatch anchors``), printed in each daily report.
``casewatch hub verify --anchor F`` then checks the store against it (``hub.chain``).

Wire form: a JSON object ``{"v": 1, "kind": "chain.anchor", "center", "pos", "hash", "ts", "sig",
"rsig"}``: ``sig`` is the HMAC-SHA256 of its canonical form without ``sig`` and ``rsig`` under the
hub's own key — what ``hub verify`` checks —, ``rsig`` the same under the hub's registry key
(protocol/registry.py) — what an agent can check without holding the hub's key. One anchor per
line in files.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass
from typing import Any

from protocol.canonical import canonical_bytes
from protocol.errors import ProtocolError
from protocol.registry import HUB_IDENTITY, registry_key
from protocol.signing import Keyring, signature

ANCHOR_KIND = "chain.anchor"
_FIELDS = {"v", "kind", "center", "pos", "hash", "ts", "sig", "rsig"}
_HASH = re.compile(r"^[0-9a-f]{64}$")
_IN_TEXT = re.compile(r'\{[^{}]*"chain\.anchor"[^{}]*\}')


class AnchorError(ProtocolError):
    """Not an anchor, or not one the hub's key signed."""


@dataclass(frozen=True)
class Anchor:
    center: str
    pos: int
    hash: str
    ts: int


def make_anchor(center: str, pos: int, hash_: str, ts: int, hub_key: bytes) -> bytes:
    doc: dict[str, Any] = {"v": 1, "kind": ANCHOR_KIND, "center": center, "pos": pos, "hash": hash_, "ts": ts}
    sig, rsig = signature(doc, hub_key), signature(doc, registry_key(hub_key))
    return canonical_bytes({**doc, "sig": sig, "rsig": rsig})


def read_anchor(
    raw: bytes | str | dict[str, Any],
    keyring: Keyring | None,
    center: str | None = None,
    *,
    field: str = "sig",
) -> Anchor:
    """A checked anchor; ``AnchorError`` says what is wrong (never a secret). ``field``: ``sig``
    (the hub's key, ``hub verify``) or ``rsig`` (the registry key, an agent). Without a keyring only
    its form is checked."""
    try:
        doc = raw if isinstance(raw, dict) else json.loads(raw)
    except ValueError as exc:
        raise AnchorError(f"anchor is not JSON: {exc}") from exc
    if not isinstance(doc, dict) or doc.get("kind") != ANCHOR_KIND or set(doc) != _FIELDS:
        raise AnchorError(f"not an anchor: expected the fields {', '.join(sorted(_FIELDS))}")
    pos, hash_, ts = doc["pos"], doc["hash"], doc["ts"]
    if doc["v"] != 1 or not isinstance(doc["center"], str):
        raise AnchorError("anchor: unknown version or no center")
    if not (isinstance(pos, int) and pos >= 1 and isinstance(ts, int) and isinstance(hash_, str)):
        raise AnchorError("anchor: pos and ts must be whole numbers, pos ≥ 1")
    if not _HASH.match(hash_):
        raise AnchorError("anchor: hash must be 64 lowercase hex characters")
    if center is not None and doc["center"] != center:
        raise AnchorError(f"anchor of centre {doc['center']!r}, not {center!r}")
    if not all(isinstance(doc[f], str) and _HASH.match(doc[f]) for f in ("sig", "rsig")):
        raise AnchorError("anchor: sig and rsig must be 64 lowercase hex characters")
    if keyring is not None:
        body = canonical_bytes({k: v for k, v in doc.items() if k not in ("sig", "rsig")})
        try:
            keyring.verify_unsigned(body, doc[field], HUB_IDENTITY)
        except ProtocolError as exc:
            raise AnchorError(f"anchor {field}: {exc}") from exc
    return Anchor(doc["center"], pos, hash_, ts)


def anchors_in_text(text: str) -> list[str]:
    """Every anchor-looking object in a text: a file of JSON lines, a CSV or an HTML report."""
    text = html.unescape(text)
    found = _IN_TEXT.findall(text) + _IN_TEXT.findall(text.replace('""', '"'))  # CSV doubles quotes
    return [candidate for candidate in dict.fromkeys(found) if _json_object(candidate)]


def _json_object(text: str) -> bool:
    try:
        return isinstance(json.loads(text), dict)
    except ValueError:
        return False

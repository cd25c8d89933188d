"""End-to-end receipts: the hub tells each agent how far its events are durably stored.

An agent may forget an event only when the hub has committed it — never on a broker's PUBACK,
which only says the broker holds it (and a broker that crashes, or the embedded one dying with
the hub, forgets what it held). After each commit the hub publishes, retained, on
``{prefix}/{center}/{agent}/receipt``::

    {"v": 1, "center": "c1", "agent": "box-01", "epoch": "3f9c…", "seq": 4711, "ts": 1764…, "sig": "…"}

``seq`` is the highest seq of that agent's outbox ``epoch`` the hub has stored; every lower seq is
stored too or was recorded as a gap (a loss the hub announced). The signature is the HMAC of the
canonical document without ``sig`` under the *agent's* key, which only the agent and the hub
hold, so nobody else on the broker can make an agent delete what the hub does not have. A
receipt for another epoch (an outbox that was reset, a retained receipt of its predecessor) is
not for this outbox and is ignored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from protocol.canonical import StrictJSONError, canonical_bytes, loads_strict
from protocol.errors import ProtocolError
from protocol.fields import MAX_SAFE_INT
from protocol.signing import Keyring, signed

RECEIPT_VERSION = 1
_EPOCH = re.compile(r"^[0-9a-f]{16}$")


class ReceiptError(ProtocolError):
    """A receipt that cannot be trusted (bad JSON, wrong agent, bad signature)."""


@dataclass(frozen=True)
class Receipt:
    center: str
    agent: str
    epoch: str
    """The outbox identity; ``""`` for an agent that sends no epoch (before receipts existed)."""
    seq: int
    ts: int


def encode_receipt(receipt: Receipt, key: bytes) -> bytes:
    doc: dict[str, Any] = {
        "v": RECEIPT_VERSION,
        "center": receipt.center,
        "agent": receipt.agent,
        "epoch": receipt.epoch,
        "seq": receipt.seq,
        "ts": receipt.ts,
    }
    return canonical_bytes(signed(doc, key))


def decode_receipt(payload: bytes, keyring: Keyring, *, center: str, agent: str) -> Receipt:
    """Check a receipt addressed to ``center``/``agent``; raise ``ReceiptError`` if it is not good."""
    try:
        doc = loads_strict(payload.decode("utf-8"))
    except (UnicodeDecodeError, StrictJSONError) as exc:
        raise ReceiptError(f"receipt is not JSON: {exc}") from None
    if not isinstance(doc, dict) or doc.get("v") != RECEIPT_VERSION:
        raise ReceiptError("receipt is not a version-1 object")
    if doc.get("center") != center or doc.get("agent") != agent:
        raise ReceiptError(f"receipt for {doc.get('center')!r}/{doc.get('agent')!r}, not {center}/{agent}")
    epoch, seq, ts = doc.get("epoch"), doc.get("seq"), doc.get("ts")
    if not isinstance(epoch, str) or not (epoch == "" or _EPOCH.fullmatch(epoch)):
        raise ReceiptError(f"receipt epoch {epoch!r} is not an outbox identity")
    for name, value in (("seq", seq), ("ts", ts)):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_SAFE_INT:
            raise ReceiptError(f"receipt {name} {value!r} is not a whole number")
    try:
        keyring.verify(doc, agent)
    except ValueError as exc:  # no canonical form: cannot have been signed
        raise ReceiptError(f"receipt has no canonical form: {exc}") from None
    except ProtocolError as exc:
        raise ReceiptError(f"receipt signature: {exc}") from None
    return Receipt(center, agent, epoch, int(seq), int(ts))  # type: ignore[arg-type]


__all__ = ["RECEIPT_VERSION", "Receipt", "ReceiptError", "decode_receipt", "encode_receipt"]

"""Watch requests, hub -> agent: "send these cameras' pictures often, until then".

While an operator has a camera enlarged on the patrol wall the hub asks the camera's agent for
near-live pictures. The request is retained on ``{prefix}/{center}/{agent}/watch`` (a reconnecting
agent finds it), signed with the hub's registry key (protocol/registry.py) as band registrations
are, and names each watched camera with the time until which it is watched::

    {"v": 1, "center": "c1", "agent": "box-01", "cameras": {"cam-int-1": 1767250010000},
     "ts": 1767250000000, "sig": "…"}

The agent sends those cameras' pictures ``WATCH_FPS`` times a second until the time passes — on its
own clock, so it stops even if the hub dies or the request is never cleared — then goes back to one
picture every ten seconds. An empty ``cameras`` ends every watch.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from protocol.canonical import canonical_bytes
from protocol.errors import SchemaError
from protocol.fields import KEY_PATTERN
from protocol.registry import read_hub_message, registry_key
from protocol.signing import Keyring, signed

WATCH_FPS = 2
WATCH_MAX_S = 60
"""No camera is watched longer than this per request: the hub renews while someone watches."""
MAX_CAMERAS = 64
_KEY = re.compile(KEY_PATTERN)


@dataclass(frozen=True)
class WatchRequest:
    center: str
    agent: str
    cameras: dict[str, int]
    ts: int


def encode_watch(request: WatchRequest, hub_key: bytes) -> bytes:
    body = {"v": 1, "center": request.center, "agent": request.agent, "cameras": request.cameras,
            "ts": request.ts}  # fmt: skip
    return canonical_bytes(signed(body, registry_key(hub_key)))


def decode_watch(raw: bytes, keyring: Keyring, *, center: str, agent: str) -> WatchRequest:
    """A checked request for this agent; ``MalformedError``/``SchemaError``/``SignatureError`` else."""
    doc = read_hub_message(raw, keyring, "watch request")
    cameras, ts = doc.get("cameras"), doc.get("ts")
    if doc.get("v") != 1 or doc.get("center") != center or doc.get("agent") != agent:
        raise SchemaError("watch request for another centre or agent", problems=[("agent", "mismatch")])
    if not isinstance(ts, int) or not isinstance(cameras, dict) or len(cameras) > MAX_CAMERAS:
        raise SchemaError("watch request: ts and cameras required", problems=[("cameras", "invalid")])
    if not all(isinstance(c, str) and _KEY.match(c) and isinstance(u, int) for c, u in cameras.items()):
        raise SchemaError("watch request: cameras must map camera keys to ms", problems=[("cameras", "bad")])
    bounded = {c: min(u, ts + WATCH_MAX_S * 1000) for c, u in cameras.items()}
    return WatchRequest(center, agent, bounded, ts)

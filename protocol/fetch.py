"""Segment requests, hub -> agent: "send me these cameras' recordings between these times".

A person's package (hub/packages.py) needs the continuous recording of every camera of every room
they were in, while they were there. The hub keeps the ranges it still waits for in one request
per agent, retained on ``{prefix}/{center}/{agent}/fetch`` (a reconnecting or restarted agent finds
it) and signed with the hub's registry key like watch requests (protocol/watch.py) — the same
request style for every hub -> agent ask: a retained, signed statement of what the hub wants now,
which the hub replaces as it changes and empties when nothing is pending::

    {"v": 1, "center": "c1", "agent": "box-01", "ts": 1767250000000, "sig": "…",
     "ranges": [{"id": "019b…-3", "camera": "cam-int-1", "start": 1767249000000,
                 "end": 1767249600000}]}

The agent answers each range once its end has passed: a ``recording.segments`` event lists the
segments it holds that overlap the range (name, times, size, sha256) and each one is sent as a
signed evidence file ``segments/{camera}/{name}`` (protocol/files.py) through the durable upload
queue — each ~10 s segment is one resumable, verified chunk of the transfer. While a range is
requested the agent's retention keeps its segments; ``keep`` names more (camera, start, end) to
keep without sending them — the time around each open alert of a camera's room.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from protocol.canonical import canonical_bytes
from protocol.errors import SchemaError
from protocol.fields import KEY_PATTERN
from protocol.registry import read_hub_message, registry_key
from protocol.signing import Keyring, signed

MAX_RANGES = 256
MAX_KEEP_MS = 86_400_000
MAX_RANGE_MS = 10 * 60_000
"""The hub cuts a long stay into ranges of at most this, so one range's listing fits an event."""
_KEY = re.compile(KEY_PATTERN)
_RANGE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,95}$")


@dataclass(frozen=True)
class Range:
    id: str
    camera: str
    start: int
    end: int


@dataclass(frozen=True)
class Keep:
    """A camera's recording the agent must not delete yet (an open alert's time), not to be sent."""

    camera: str
    start: int
    end: int


@dataclass(frozen=True)
class FetchRequest:
    center: str
    agent: str
    ranges: tuple[Range, ...]
    ts: int
    keep: tuple[Keep, ...] = ()


def encode_fetch(request: FetchRequest, hub_key: bytes) -> bytes:
    body = {
        "v": 1,
        "center": request.center,
        "agent": request.agent,
        "ts": request.ts,
        "ranges": [{"id": r.id, "camera": r.camera, "start": r.start, "end": r.end} for r in request.ranges],
        "keep": [{"camera": k.camera, "start": k.start, "end": k.end} for k in request.keep],
    }
    return canonical_bytes(signed(body, registry_key(hub_key)))


def decode_fetch(raw: bytes, keyring: Keyring, *, center: str, agent: str) -> FetchRequest:
    """A checked request for this agent; ``MalformedError``/``SchemaError``/``SignatureError`` else."""
    doc = read_hub_message(raw, keyring, "fetch request")
    ranges, ts = doc.get("ranges"), doc.get("ts")
    if doc.get("v") != 1 or doc.get("center") != center or doc.get("agent") != agent:
        raise SchemaError("fetch request for another centre or agent", problems=[("agent", "mismatch")])
    if not isinstance(ts, int) or not isinstance(ranges, list) or len(ranges) > MAX_RANGES:
        raise SchemaError("fetch request: ts and ranges required", problems=[("ranges", "invalid")])
    keep = doc.get("keep", [])
    if not isinstance(keep, list) or len(keep) > MAX_RANGES:
        raise SchemaError("fetch request: keep must be a list", problems=[("keep", "invalid")])
    return FetchRequest(center, agent, tuple(_range(r) for r in ranges), ts, tuple(_keep(k) for k in keep))


def _keep(found: object) -> Keep:
    if not isinstance(found, dict):
        raise SchemaError("fetch request: a keep must be an object", problems=[("keep", "not an object")])
    camera, start, end = found.get("camera"), found.get("start"), found.get("end")
    if not (isinstance(camera, str) and _KEY.match(camera)):
        raise SchemaError(f"fetch request: bad camera {camera!r}", problems=[("keep.camera", "invalid")])
    if not (isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= start + MAX_KEEP_MS):
        raise SchemaError("fetch request: a keep needs 0 <= start < end, at most a day",
                          problems=[("keep.start", "invalid")])  # fmt: skip
    return Keep(camera, start, end)


def _range(found: object) -> Range:
    if not isinstance(found, dict):
        raise SchemaError("fetch request: a range must be an object", problems=[("ranges", "not an object")])
    rid, camera, start, end = (found.get(k) for k in ("id", "camera", "start", "end"))
    if not (isinstance(rid, str) and _RANGE_ID.match(rid)):
        raise SchemaError(f"fetch request: bad range id {rid!r}", problems=[("ranges.id", "invalid")])
    if not (isinstance(camera, str) and _KEY.match(camera)):
        raise SchemaError(f"fetch request: bad camera {camera!r}", problems=[("ranges.camera", "invalid")])
    if not (isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= start + MAX_RANGE_MS):
        raise SchemaError(
            f"fetch request: range {rid} must have 0 <= start < end, at most {MAX_RANGE_MS // 60_000} min",
            problems=[("ranges.start", "invalid")],
        )
    return Range(rid, camera, start, end)

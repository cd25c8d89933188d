"""Evidence files on the wire: one signed JSON header line, then the file's bytes.

An agent's annotated snapshot at a condition's start and its MP4 clips are copied to the hub, so
a supervisor sees them even when the edge box is unreachable or has pruned them. The header binds
the bytes to the agent and to the path its events name (``snapshot``, ``evidence.clip``'s
``path``): ``{"v", "center", "agent", "path", "ts", "size", "sha256", "sig"}``, signed like an
event (HMAC-SHA256 over the canonical header without ``sig``, the agent's key). The hub checks the
signature, the claimed agent against the topic's, the size and the digest before it keeps a byte.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass

from protocol.canonical import canonical_bytes, loads_strict
from protocol.errors import ProtocolError
from protocol.signing import Keyring, signed

FILE_VERSION = 1
MAX_HEADER_BYTES = 4096
FILE_PATH_PATTERN = (
    r"^((snapshots|clips)/[A-Za-z0-9][A-Za-z0-9_.-]{0,63}/[A-Za-z0-9][A-Za-z0-9_.:-]{0,95}\.(jpg|mp4)"
    r"|segments/[A-Za-z0-9][A-Za-z0-9_.-]{0,63}/[0-9]{9,11}\.mp4)$"
)
_PATH = re.compile(FILE_PATH_PATTERN)
MEDIA_TYPES = {".jpg": "image/jpeg", ".mp4": "video/mp4"}


class FileError(ProtocolError):
    """An evidence file message that cannot be accepted (the reason says why)."""


@dataclass(frozen=True)
class EvidenceFile:
    center: str
    agent: str
    path: str
    ts: int
    sha256: str
    body: bytes


SNAPSHOT_NAME = "live.jpg"
"""A camera's latest picture travels as the evidence file ``snapshots/{camera}/live.jpg``."""


def snapshot_path(camera: str) -> str:
    return f"snapshots/{camera}/{SNAPSHOT_NAME}"


def encode_snapshot(center: str, agent: str, camera: str, jpeg: bytes, *, key: bytes, ts: int) -> bytes:
    """A camera's latest picture, signed like an evidence file (retained on its snapshot topic):
    the hub keeps it only from a configured agent, for that agent's camera."""
    return encode_file(center, agent, snapshot_path(camera), jpeg, key=key, ts=ts)


def valid_path(path: str) -> bool:
    """A path an agent's evidence folder can hold: ``snapshots|clips/{camera}/{name}.jpg|mp4``, or a
    continuous recording's segment ``segments/{camera}/{unix seconds}.mp4`` (protocol/fetch.py)."""
    return bool(_PATH.fullmatch(path)) and ".." not in path


def encode_file(center: str, agent: str, path: str, body: bytes, *, key: bytes, ts: int) -> bytes:
    if not valid_path(path):
        raise FileError(f"path {path!r} is not an evidence path")
    header = {
        "v": FILE_VERSION,
        "center": center,
        "agent": agent,
        "path": path,
        "ts": ts,
        "size": len(body),
        "sha256": hashlib.sha256(body).hexdigest(),
    }
    return canonical_bytes(signed(header, key)) + b"\n" + body


def decode_file(payload: bytes, keyring: Keyring, *, center: str, agent: str) -> EvidenceFile:
    """Check a file message received on ``center``/``agent``'s topic; raise ``FileError`` if bad."""
    end = payload.find(b"\n", 0, MAX_HEADER_BYTES + 1)
    if end < 0:
        raise FileError("no header line in the first 4096 bytes")
    try:
        header = loads_strict(payload[:end].decode("utf-8"))
    except (UnicodeDecodeError, ValueError, json.JSONDecodeError) as exc:
        raise FileError(f"header is not JSON: {exc}") from None
    if not isinstance(header, dict):
        raise FileError("header is not a JSON object")
    if header.get("v") != FILE_VERSION:
        raise FileError(f"unsupported file version {header.get('v')!r}")
    if header.get("agent") != agent or header.get("center") != center:
        raise FileError(f"header claims {header.get('center')!r}/{header.get('agent')!r} on {center}/{agent}")
    try:
        keyring.verify(header, agent)
    except ProtocolError as exc:  # a bad signature, or an agent the hub has no key for
        raise FileError(f"signature: {exc}") from None
    except ValueError as exc:  # no canonical form (an integer past 2**53, a float): cannot be signed
        raise FileError(f"header has no canonical form: {exc}") from None
    path, ts, size, digest = header.get("path"), header.get("ts"), header.get("size"), header.get("sha256")
    if not isinstance(path, str) or not valid_path(path):
        raise FileError(f"path {path!r} is not an evidence path")
    if not isinstance(ts, int) or not isinstance(size, int) or not isinstance(digest, str):
        raise FileError("ts, size and sha256 are required")
    body = payload[end + 1 :]
    if len(body) != size:
        raise FileError(f"{len(body)} bytes where the header says {size}")
    if hashlib.sha256(body).hexdigest() != digest:
        raise FileError("sha256 does not match the bytes")
    return EvidenceFile(center, agent, path, ts, digest, body)

"""Detector models handed from the hub to its agents over HTTP: a signed request, a signed manifest.

An edge box installed without Ultralytics takes its ONNX model from the hub it reports to. It
proves who it is by signing the request with its own key (the HMAC key of its events), and the
hub answers with a manifest signed with that same key, naming each file's sha256 and size: the
downloaded bytes are checked against it, so nobody without the agent's key can swap a model on
the way, and a replayed request is refused after ``MAX_SKEW_MS``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from protocol.errors import SignatureError
from protocol.signing import Keyring, signature, signed

AGENT_HEADER = "X-Casewatch-Agent"
TIME_HEADER = "X-Casewatch-Time"
SIGNATURE_HEADER = "X-Casewatch-Signature"
MAX_SKEW_MS = 300_000
"""A signed request is good for five minutes either side of the hub's clock."""
MODEL_FILE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,80}\.(onnx|pt)$")
"""What a model file may be called: no folders, no hidden files, ``.onnx`` or ``.pt``."""


def _request_doc(agent: str, method: str, path: str, ts_ms: int) -> dict[str, Any]:
    return {"agent": agent, "method": method.upper(), "path": path, "ts": ts_ms}


def request_headers(agent: str, key: bytes, method: str, path: str, now_ms: int) -> dict[str, str]:
    """The headers that prove ``agent`` asks for ``method path`` now."""
    return {
        AGENT_HEADER: agent,
        TIME_HEADER: str(now_ms),
        SIGNATURE_HEADER: signature(_request_doc(agent, method, path, now_ms), key),
    }


@dataclass(frozen=True)
class SignedRequest:
    agent: str
    ts: int
    """The request's own time, which the manifest answering it echoes."""


def verify_request(
    headers: Mapping[str, str], method: str, path: str, keyring: Keyring, now_ms: int
) -> SignedRequest:
    """Who signed this request, and when; ``SignatureError`` (or ``UnknownAgentError``) if nobody."""
    lowered = {k.lower(): v for k, v in headers.items()}
    agent = lowered.get(AGENT_HEADER.lower(), "")
    sig = lowered.get(SIGNATURE_HEADER.lower(), "")
    try:
        ts_ms = int(lowered.get(TIME_HEADER.lower(), ""))
    except ValueError:
        raise SignatureError(f"{TIME_HEADER} is missing or not a number") from None
    if not agent or not sig:
        raise SignatureError(f"{AGENT_HEADER} and {SIGNATURE_HEADER} are required")
    if abs(now_ms - ts_ms) > MAX_SKEW_MS:
        raise SignatureError(f"request time {ts_ms} is more than {MAX_SKEW_MS // 1000} s from the hub's")
    keyring.verify({**_request_doc(agent, method, path, ts_ms), "sig": sig}, agent)
    return SignedRequest(agent, ts_ms)


class ModelFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(..., pattern=MODEL_FILE.pattern, description="File name in the hub's model folder.")
    sha256: str = Field(..., pattern=r"^[0-9a-f]{64}$")
    size: int = Field(..., ge=0, description="Bytes.")


class ModelManifest(BaseModel):
    """What the hub offers one agent, signed with that agent's key."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    v: Literal[1] = 1
    agent: str
    ts: int = Field(..., description="When the hub made it (ms since the epoch).")
    request_ts: int = Field(
        ..., description="The time of the signed request it answers (binds it to that request)."
    )
    files: list[ModelFile]
    sig: str = Field(..., pattern=r"^[0-9a-f]{64}$")

    def file(self, name: str) -> ModelFile | None:
        return next((f for f in self.files if f.name == name), None)


def manifest(request: SignedRequest, files: list[ModelFile], key: bytes, now_ms: int) -> ModelManifest:
    doc = {"v": 1, "agent": request.agent, "ts": now_ms, "request_ts": request.ts,
           "files": [f.model_dump() for f in files]}  # fmt: skip
    return ModelManifest.model_validate(signed(doc, key))


def decode_manifest(doc: object, agent: str, keyring: Keyring, *, request_ts: int) -> ModelManifest:
    """The manifest if it is well formed, for ``agent``, signed with its key and answering the
    request made at ``request_ts`` — an old manifest replayed by someone on the path is refused."""
    try:
        parsed = ModelManifest.model_validate(doc)
    except ValidationError as exc:
        raise SignatureError(f"not a model manifest: {exc.error_count()} problem(s)") from None
    if parsed.agent != agent:
        raise SignatureError(f"the manifest is for {parsed.agent!r}, not {agent!r}")
    keyring.verify(parsed.model_dump(), agent)
    if parsed.request_ts != request_ts:
        raise SignatureError(
            f"the manifest answers a request of {parsed.request_ts}, not this one ({request_ts})"
        )
    return parsed

"""The picture an operator saw, kept as evidence: the camera's latest signed snapshot, these very
bytes, whose SHA-256 and time go into the record (a remote reminder's, a belongings store's)."""

from __future__ import annotations

import hashlib
from typing import Any

from hub.api.context import ApiContext


def keep_picture(
    ctx: ApiContext, camera: str, folder: str, fresh_ms: int | None = None
) -> dict[str, Any] | None:
    """Kept under the evidence folder ``folder`` (an alert id, ``belongings-{person}``); None: no
    picture from the camera's own agent yet (or none taken in the last ``fresh_ms``), or not kept
    (a full disk)."""
    found = ctx.service.snapshots.get(camera, ctx.service.camera_owner(camera))
    if found is not None and fresh_ms is not None and ctx.service.clock.now_ms() - found.ts > fresh_ms:
        return None
    if found is None or not ctx.service.evidence.keep(folder, camera, found.ts, found.jpeg):
        return None
    return {"camera": camera, "ts": found.ts, "sha256": hashlib.sha256(found.jpeg).hexdigest()}

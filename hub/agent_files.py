"""The agents' evidence files kept at the hub: ``{store folder}/agent-files/{agent}/{path}``.

Agents send the snapshot at each condition's start and each clip (protocol/files.py). A file is
kept only if its header verifies with the agent's key, names the agent of its topic and matches
its digest; it is written beside its final name and renamed, so a reader never sees half a file.
The path is the one the agent's events carry, so an alert's evidence links straight to it; a clip
is also found by its id (the file is named ``{clip_id}.mp4``). Files older than the alerts'
evidence retention are pruned like the hub's own alert pictures.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Any

from protocol.errors import ProtocolError
from protocol.files import MEDIA_TYPES, decode_file, valid_path
from protocol.signing import Keyring
from protocol.topics import FileTopic, TopicLayout

log = logging.getLogger(__name__)
_AGENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_CLIP_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


class AgentFiles:
    def __init__(self, folder: Path, keyring: Keyring, layout: TopicLayout) -> None:
        self.folder = folder
        self.keyring = keyring
        self.layout = layout
        self.counters = {"files_stored": 0, "files_rejected": 0, "files_errors": 0}

    def receive(self, topic: str, payload: bytes) -> str | None:
        """Keep one file message; return its path, or ``None`` (rejected or not written: counted)."""
        try:
            parsed = self.layout.parse(topic)
            if not isinstance(parsed, FileTopic):
                raise ProtocolError(f"{topic} is not a files topic")
            found = decode_file(payload, self.keyring, center=parsed.center, agent=parsed.agent)
        except ProtocolError as exc:
            self.counters["files_rejected"] += 1
            log.warning("evidence file on %s rejected: %s", topic, exc)
            return None
        target = self.folder / found.agent / found.path
        partial = target.with_name(f".{target.name}.part")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(partial, "wb") as out:
                out.write(found.body)
                out.flush()
                os.fsync(out.fileno())
            partial.replace(target)
        except OSError as exc:  # a full disk must not stop the ingest: counted, logged, not kept
            self.counters["files_errors"] += 1
            log.error("evidence file %s of %s not kept: %s", found.path, found.agent, exc)
            return None
        self.counters["files_stored"] += 1
        return found.path

    def locate(self, agent: str, path: str) -> Path | None:
        if not _AGENT.fullmatch(agent) or not valid_path(path):
            return None
        target = self.folder / agent / path
        return target if target.is_file() else None

    def clip(self, agent: str, clip_id: str) -> str | None:
        """The path of a clip kept here, by its id."""
        if not _AGENT.fullmatch(agent) or not _CLIP_ID.fullmatch(clip_id):
            return None
        for found in (self.folder / agent / "clips").glob(f"*/{clip_id}.mp4"):
            return found.relative_to(self.folder / agent).as_posix()
        return None

    def describe(self, agent: str, evidence: dict[str, Any] | None) -> list[dict[str, Any]]:
        """The files an event's ``evidence`` names, each with whether the hub has it yet."""
        if not evidence:
            return []
        out = []
        snapshot = evidence.get("snapshot")
        if isinstance(snapshot, str):
            kept = snapshot if self.locate(agent, snapshot) else None
            out.append(self._entry("snapshot", agent, kept, snapshot))
        clip_id = evidence.get("clip_id")
        if isinstance(clip_id, str):
            out.append(self._entry("clip", agent, self.clip(agent, clip_id), clip_id))
        return out

    @staticmethod
    def _entry(kind: str, agent: str, path: str | None, named: str) -> dict[str, Any]:
        return {
            "kind": kind,
            "agent": agent,
            "named": named,
            "path": path,
            "url": f"/api/v1/files/{agent}/{path}" if path else None,
        }

    @staticmethod
    def media_type(path: Path) -> str:
        return MEDIA_TYPES.get(path.suffix, "application/octet-stream")

    def prune(self, older_than_ms: int) -> int:
        """Delete files written before ``older_than_ms``."""
        if not self.folder.is_dir():
            return 0
        removed = 0
        cutoff = older_than_ms / 1000
        for path in self.folder.glob("*/*/*/*"):
            try:
                if path.is_file() and path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
            except OSError as exc:
                self.counters["files_errors"] += 1
                log.warning("evidence file %s not pruned: %s", path, exc)
        return removed

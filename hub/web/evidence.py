"""Pictures kept with an alert: the latest snapshot of each camera of its room when it is raised.

The agents keep their own evidence (annotated snapshots, clips) on the edge box; the hub has the
newest JPEG each camera publishes (every few seconds). When an alert is raised the hub copies the
snapshots of the alert's cameras — its ``camera``, else every camera that counted people in its
room — into ``{store folder}/evidence/{alert}/{camera}-{taken ms}.jpg``, so the console can show
what the room looked like, and how old the picture was, even after the camera moved on. Only a
picture signed by the camera's own agent is taken (hub/web/snapshots.py).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from hub.web.snapshots import SnapshotCache

log = logging.getLogger(__name__)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}-[0-9]{1,16}\.jpg$")


def cameras_for(context: Mapping[str, Any], rooms: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The alert's own camera, else the cameras that have counted people in its room."""
    if context.get("camera"):
        return [str(context["camera"])]
    zones = (rooms.get(str(context.get("room") or "")) or {}).get("zones") or {}
    return sorted({name.split("/", 1)[0] for name in zones})


class EvidenceFolder:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.written = 0
        self.errors = 0

    def keep(self, alert: str, camera: str, taken_ms: int, jpeg: bytes) -> bool:
        """One given picture with the alert (a reminder's: the one the operator saw). False: not
        kept (a full disk: counted, logged)."""
        path = self.folder / alert / f"{camera}-{taken_ms}.jpg"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(jpeg)
        except OSError as exc:  # a full disk must not stop the ingest: counted, logged
            self.errors += 1
            log.error("evidence for %s not kept: %s", alert, exc)
            return False
        self.written += 1
        return True

    def capture(
        self,
        alert: str,
        cameras: Iterable[str],
        snapshots: SnapshotCache,
        owner: Callable[[str], str | None] = lambda _camera: None,
    ) -> list[Path]:
        made = []
        for camera in cameras:
            found = snapshots.get(camera, owner(camera))
            if found is not None and self.keep(alert, camera, found.ts, found.jpeg):
                made.append(self.folder / alert / f"{camera}-{found.ts}.jpg")
        return made

    def prune(self, older_than_ms: int) -> int:
        """Delete the pictures of alerts raised before ``older_than_ms`` (by folder time)."""
        if not self.folder.is_dir():
            return 0
        removed = 0
        for folder in self.folder.iterdir():
            try:
                if folder.is_dir() and folder.stat().st_mtime * 1000 < older_than_ms:
                    for path in folder.iterdir():
                        path.unlink()
                    folder.rmdir()
                    removed += 1
            except OSError as exc:
                self.errors += 1
                log.warning("evidence folder %s not pruned: %s", folder, exc)
        return removed

    def list(self, alert: str) -> list[dict[str, Any]]:
        folder = self.folder / alert
        if not folder.is_dir():
            return []
        out = []
        for path in sorted(folder.iterdir()):
            if _NAME.match(path.name):
                camera, _, received = path.stem.rpartition("-")
                out.append(
                    {
                        "name": path.name,
                        "camera": camera,
                        "received_ms": int(received),
                        "bytes": path.stat().st_size,
                    }
                )
        return out

    def read(self, alert: str, name: str) -> bytes | None:
        if not _NAME.match(name) or "/" in alert or alert.startswith("."):
            return None
        path = self.folder / alert / name
        return path.read_bytes() if path.is_file() else None

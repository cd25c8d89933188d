"""The detector models the hub hands to its agents: the files of one folder, with their sha256.

An edge box installed without Ultralytics pulls its ONNX model from here (``casewatch models pull
--from-hub``). The folder is filled on the hub's box, e.g. ``casewatch models pull --onnx --dir
FOLDER``; only ``.onnx`` and ``.pt`` files directly in it are offered. Hashes are cached by size
, inode and change times, so a manifest does not read 12 MB per request and a file replaced
in place (even with its old size and mtime, as ``cp -p`` does) is hashed again.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

from protocol.model_transfer import MODEL_FILE, ModelFile


class ModelShelf:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._lock = threading.Lock()
        self._hashes: dict[str, tuple[tuple[int, ...], str]] = {}  # name -> (stat key, sha256)

    def path(self, name: str) -> Path | None:
        """The file ``name`` names, if it is one the shelf offers."""
        if not MODEL_FILE.match(name):
            return None
        path = self.folder / name
        return path if path.is_file() and not path.is_symlink() else None

    def files(self) -> list[ModelFile]:
        if not self.folder.is_dir():
            return []
        out = []
        for path in sorted(self.folder.iterdir()):
            if self.path(path.name) is None:
                continue
            stat = path.stat()
            key = (stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino, stat.st_dev)
            out.append(ModelFile(name=path.name, sha256=self._sha256(path, key), size=stat.st_size))
        return out

    def _sha256(self, path: Path, key: tuple[int, ...]) -> str:
        with self._lock:
            known = self._hashes.get(path.name)
        if known is not None and known[0] == key:
            return known[1]
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        with self._lock:
            self._hashes[path.name] = (key, digest.hexdigest())
        return digest.hexdigest()

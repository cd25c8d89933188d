"""A package's state, kept in its folder (``{packages.dir}/{id}/state.json``) so a restarted hub
goes on where it stopped: queued (asked for, not yet planned), waiting (for the agents' segments),
ready or failed. Each save writes a uniquely named temporary file and renames it, so two threads
saving at once never interleave."""

from __future__ import annotations

import json
import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hub.package_plan import Wanted

log = logging.getLogger(__name__)


@dataclass
class Package:
    id: str
    person: str
    trigger: str
    by: str
    created: int
    released: int | None = None
    """For a release's package: the release's time, which pins the custody it covers."""
    case: str | None = None
    since: int | None = None
    until: int | None = None
    """The custody covered, pinned when the package is planned (an id may come back later)."""
    deadline: int = 0
    wanted: list[Wanted] = field(default_factory=list)
    listed: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    status: str = "queued"
    kind: str = "person"
    """person, or case: a case's package holds its persons' packages (``members``, their ids)."""
    members: list[str] = field(default_factory=list)
    built: int | None = None
    error: str | None = None
    summary: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The state without the agents' answers: each answer is a file of its own (``listed/``),
        written once, so a long custody's thousands of answers are not rewritten with each one."""
        found = dict(self.__dict__)
        found["wanted"] = [w.as_dict() for w in self.wanted]
        found.pop("listed")
        return found

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> Package:
        return cls(**{**doc, "wanted": [Wanted(**w) for w in doc.get("wanted", [])]})


class PackageStates:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.lock = threading.RLock()
        """Held while a package is changed or saved (the ingest and the desk both change them)."""

    def load(self) -> list[Package]:
        found = []
        for state in sorted(self.folder.glob("*/state.json")):
            try:
                pkg = Package.from_dict(json.loads(state.read_text(encoding="utf-8")))
                for answer in sorted((state.parent / "listed").glob("*.json")):
                    pkg.listed[answer.stem] = list(json.loads(answer.read_text(encoding="utf-8")))
                found.append(pkg)
            except (OSError, ValueError, TypeError, KeyError) as exc:
                log.error("package state %s unreadable: %s", state, exc)
        return found

    def save_listing(self, pkg: Package, request: str) -> None:
        """One agent's answer (``listed/{range id}.json``)."""
        with self.lock:
            self._write(self.folder / pkg.id / "listed" / f"{request}.json", json.dumps(pkg.listed[request]))

    def save(self, pkg: Package) -> None:
        with self.lock:
            self._write(self.folder / pkg.id / "state.json", json.dumps(pkg.as_dict(), ensure_ascii=False))

    @staticmethod
    def _write(target: Path, raw: str) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.part")
        partial.write_text(raw, encoding="utf-8")
        partial.replace(target)

"""Assembling a package once its segments are in (hub/packages.py plans and waits; this builds).

In ``{packages.dir}/{id}/``: the parts (segments joined without re-encoding, one per camera, stay
and run of contiguous segments; a part ffmpeg cannot join is named in the index with its error and
the others go on), ``index.json``, ``records.json`` (the person, the timeline, the belongings
ledger with its pictures, the log rows), ``coverage.json``, the signed ``manifest.json``; then
``{id}.zip``. The custody covered is the one pinned when the package was planned, so a person
registered again under the same id before the build cannot leak into it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import subprocess
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from foundation.video_join import JoinError, join_segments
from hub.agent_files import AgentFiles
from hub.alerts import Alert
from hub.belongings import ledger, still_held
from hub.coverage_watch import person_coverage
from hub.package_manifest import MANIFEST, digest_file, make_manifest, manifest_sha256
from hub.package_plan import Answers, Part, parts
from hub.package_state import Package
from hub.queries import AlertFilter, Queries
from hub.trail import read_trail, trail_steps
from protocol.clock import Clock

log = logging.getLogger(__name__)
PRIVATE_FILES = ("records.json", "manifest.json")
"""Files with the person's full record: the API gives them (and ``belongings/``) to supervisors."""


def media_ms(path: Path) -> int | None:
    """The video's own duration (ffprobe). It can be shorter than the part's wall-clock span: a
    camera that stalls without dropping the connection sends less video than time passes."""
    try:
        done = subprocess.run(
            ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(path)],
            capture_output=True, text=True, timeout=60, check=True,
        )  # fmt: skip
        return int(float(done.stdout.strip()) * 1000)
    except (OSError, ValueError, subprocess.SubprocessError):
        return None


@dataclass
class PackageBuilder:
    folder: Path
    center: str
    queries: Queries
    files: AgentFiles
    key: bytes
    clock: Clock
    rooms: dict[str, str]
    alert_view: Callable[[Alert], dict[str, Any]]
    head: Callable[[], tuple[int, str]]
    evidence: Path
    present: Callable[[str, str, dict[str, Any]], bool]

    def assemble(self, pkg: Package) -> tuple[dict[str, Any], dict[str, Any]]:
        """Build the package; returns its summary and the ``package.built`` record's data."""
        home = self.folder / pkg.id
        for leftover in ("parts", "belongings"):  # an interrupted attempt's files are not signed
            shutil.rmtree(home / leftover, ignore_errors=True)
        found, missing = parts(pkg.wanted, Answers(pkg.listed), self.present)
        (home / "parts").mkdir(parents=True, exist_ok=True)
        index = [self._join(pkg, part, home) for part in found]
        person = self._pinned_person(pkg)
        trail = read_trail(self.queries, {**person, "released": pkg.until})  # to the cut-off
        cover = person_coverage(
            self.queries, {**person, "released": pkg.until}, self.clock.now_ms()
        ).as_dict()
        for piece in cover["uncovered"]:
            piece["room_name"] = self.rooms.get(piece["room"], piece["room"]) if piece["room"] else None
        unanswered = [w.as_dict() for w in pkg.wanted if w.id not in pkg.listed]
        self._write(home / "index.json", {"package": pkg.id, "person": pkg.person, "parts": index})
        later = self._after_release(pkg, person.get("released"))  # belongings handed back afterwards
        self._write(home / "records.json", {
            "person": person, "steps": trail_steps(self.queries, trail, self.rooms, self.alert_view),
            "belongings": self._belongings(pkg.person, [*trail.records, *later], home),
            "log": [*trail.records, *later], "covered_until": pkg.until,
        })  # fmt: skip
        self._write(home / "coverage.json", {**cover, "missing_segments": missing, "unanswered": unanswered})
        raw = self._seal(pkg, home, trail.since, trail.until)
        joined = [p for p in index if p.get("file")]
        summary = {"parts": len(joined), "percent": cover["percent"], "missing": len(missing),
                   "unanswered": len(unanswered), "failed_parts": len(index) - len(joined),
                   "manifest_sha256": manifest_sha256(raw)}  # fmt: skip
        record = {"package": pkg.id, "trigger": pkg.trigger, "manifest_sha256": summary["manifest_sha256"],
                  "files": len(json.loads(raw)["files"]), "parts": len(joined), "percent": cover["percent"],
                  "missing": len(missing) + len(unanswered)}  # fmt: skip
        return summary, record

    def assemble_case(self, pkg: Package, members: list[Package]) -> tuple[dict[str, Any], dict[str, Any]]:
        """A case's package: ``case.json`` (the case, its dossiers, its alerts with their loop) and
        each person's ready package under ``persons/{person}/`` (its own manifest included, so each
        stays verifiable alone), under one signed manifest."""
        home = self.folder / pkg.id
        shutil.rmtree(home / "persons", ignore_errors=True)
        for member in members:
            if member.status != "ready":
                continue
            source = self.folder / member.id
            listed = [*json.loads((source / MANIFEST).read_text(encoding="utf-8"))["files"], MANIFEST]
            for name in listed:
                target = home / "persons" / member.person / name
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source / name, target)
        case = str(pkg.case)
        self._write(home / "case.json", {
            "case": self.queries.projection("case", case) or {"id": case},
            "dossiers": [d for d in self.queries.projections("dossier") if d.get("case") == case],
            "alerts": [self.alert_view(a) for a in self.queries.alerts(AlertFilter(case=case, limit=1000))],
            "persons": [{"person": m.person, "package": m.id, "status": m.status, "error": m.error}
                        for m in members],
        })  # fmt: skip
        raw = self._seal(pkg, home, min((m.since or 0) for m in members) if members else 0, None)
        persons = sorted({m.person for m in members if m.status == "ready"})
        summary = {"persons": persons, "failed_persons": sorted({m.person for m in members} - set(persons)),
                   "manifest_sha256": manifest_sha256(raw)}  # fmt: skip
        record = {"package": pkg.id, "manifest_sha256": summary["manifest_sha256"], "persons": persons,
                  "files": len(json.loads(raw)["files"])}  # fmt: skip
        return summary, record

    def _pinned_person(self, pkg: Package) -> dict[str, Any]:
        """The person as the pinned custody's own intake (and release) records say — not the
        projection, which a later registration of the same id has overwritten."""
        rows = self.queries.about_person(pkg.person)
        intakes = [r for r in rows if r.get("kind") == "person.intake"]
        pinned = [r for r in intakes if (r.get("data") or {}).get("arrived") == pkg.since] or intakes[-1:]
        intakes = pinned
        data = dict((intakes[-1].get("data") or {}) if intakes else {})
        released = pkg.released
        if released is None and pkg.trigger != "release":
            doc = self.queries.projection("person", pkg.person) or {}
            released = doc.get("released") if doc.get("arrived") == pkg.since else None
        return {**data, "id": pkg.person, "arrived": pkg.since, "released": released}

    def _after_release(self, pkg: Package, released: int | None) -> list[dict[str, Any]]:
        """Belongings handed back after the release, up to the person's next intake."""
        if released is None:
            return []
        out = []
        for row in self.queries.about_person(pkg.person):
            ts = int(row.get("ts") or 0)
            if row.get("kind") == "person.intake" and ts > released:
                break
            if (
                ts > released
                and row.get("kind") == "record"
                and (row.get("data") or {}).get("type") == ("belongings_returned")
            ):
                out.append(row)
        return out

    def _seal(self, pkg: Package, home: Path, since: int, until: int | None) -> bytes:
        """The signed manifest over every file, then the archive of them all."""
        files = {
            p.relative_to(home).as_posix(): digest_file(p)
            for p in sorted(home.rglob("*"))
            if p.is_file() and p.relative_to(home).as_posix() not in ("state.json", MANIFEST)
            and not p.relative_to(home).as_posix().startswith("listed/") and not p.name.startswith(".")
        }  # fmt: skip
        pos, head = self.head()
        meta = {"package": pkg.id, "kind": pkg.kind, "center": self.center, "person": pkg.person,
                "case": pkg.case,
                "trigger": pkg.trigger, "by": pkg.by, "created": pkg.created, "built": self.clock.now_ms(),
                "custody": {"since": since, "until": until}, "chain": {"pos": pos, "hash": head}}  # fmt: skip
        raw = make_manifest(meta, files, self.key)
        (home / MANIFEST).write_bytes(raw)
        target = self.folder / f"{pkg.id}.zip"
        partial = target.with_name(f".{target.name}.part")
        with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_STORED) as zf:
            for name in sorted([*files, MANIFEST]):
                zf.write(home / name, name)
        partial.replace(target)
        return raw

    def _belongings(self, person: str, records: list[dict[str, Any]], home: Path) -> dict[str, Any]:
        """The belongings ledger, each stored item's picture copied in (``belongings/…jpg``) when its
        bytes still match the digest in the record."""
        entries = ledger(records)
        for entry in entries:
            picture = entry.get("picture") or {}
            name = f"{picture.get('camera')}-{picture.get('ts')}.jpg"
            source = self.evidence / f"belongings-{person}" / name
            if not picture or not source.is_file():
                continue
            body = source.read_bytes()
            if hashlib.sha256(body).hexdigest() != picture.get("sha256"):
                entry["picture_error"] = "the kept picture no longer matches the record"
                continue
            target = home / "belongings" / source.name
            target.parent.mkdir(exist_ok=True)
            target.write_bytes(body)
            entry["picture_file"] = target.relative_to(home).as_posix()
        return {"entries": entries, "still_held": still_held(entries)}

    def _join(self, pkg: Package, part: Part, home: Path) -> dict[str, Any]:
        """One part: the segments joined without re-encoding, moov first (plays while loading)."""
        agent = next(w.agent for w in pkg.wanted if w.camera == part.camera and w.stay == part.stay)
        sources = [self.files.locate(agent, f"segments/{part.camera}/{s['name']}") for s in part.segments]
        entry = {"camera": part.camera, "room": part.room, "room_name": self.rooms.get(part.room, part.room),
                 "stay": part.stay, "start": part.start, "end": part.end,
                 "segments": len(part.segments)}  # fmt: skip
        target = home / part.name
        try:
            join_segments([p for p in sources if p is not None], target)
        except JoinError as exc:  # the others go on; the index says which could not be joined
            log.error("package %s: part %s not joined: %s", pkg.id, part.name, exc)
            return {**entry, "file": None, "error": str(exc)[:300]}
        return {**entry, "file": part.name, "media_ms": media_ms(target)}

    @staticmethod
    def _write(path: Path, doc: dict[str, Any]) -> None:
        path.write_text(json.dumps(doc, ensure_ascii=False, indent=1, sort_keys=True), encoding="utf-8")

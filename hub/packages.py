"""Each person's package (一人一档 / 一案一打包): their recordings, records and coverage, signed.

On release (``packages.on_release``) or on demand, the desk reads the person's trail (hub/trail.py),
asks the owning agents for every camera of every room they were in, while they were there
(hub/package_plan.py, protocol/fetch.py), and waits for the agents' ``recording.segments``
answers and the segment files. Then it assembles, in ``{packages.dir}/{id}/``:

- ``parts/{start}-{camera}.mp4`` — one browser-playable MP4 per camera, stay and run of
  contiguous segments: the segments joined by ffmpeg without re-encoding, ``+faststart``;
- ``index.json`` — the parts on the person's timeline (room, camera, stay, times, digest);
- ``records.json`` — the person, their timeline (records, rooms, staff present, alerts with
  their loop), the log rows about them;
- ``coverage.json`` — custody time on camera, each uncovered piece with its reason, and the
  segments listed by an agent that never arrived;
- ``manifest.json`` — every file's size and sha256 and the log's head, signed with the hub's key
  (hub/package_manifest.py);

zips it all into ``{id}.zip`` and logs a ``package.built`` record with the manifest's digest. A
package whose answers do not all come within ``packages.wait_s`` is built with what arrived. The
state of each package lives in its folder (``state.json``), so a restarted hub asks again for
what it still waits for.
"""

from __future__ import annotations

import json
import logging
import queue
import shutil
import subprocess
import threading
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from foundation.video_join import join_segments
from hub.agent_files import AgentFiles
from hub.alerts import Alert
from hub.belongings import ledger, still_held
from hub.coverage import union
from hub.coverage_watch import person_coverage, room_cameras
from hub.package_manifest import MANIFEST, digest_file, make_manifest, manifest_sha256
from hub.package_plan import Answers, Part, Wanted, parts, ranges
from hub.queries import AlertFilter, Queries
from hub.store import Stored
from hub.trail import read_trail, trail_steps
from protocol.clock import Clock
from protocol.fetch import MAX_KEEP_MS, MAX_RANGES, Keep, Range
from protocol.ids import uuid7

log = logging.getLogger(__name__)
KEEP_AROUND_MS = 5 * 60_000
"""An open alert keeps its room's recording from this long before it opened to this long after now."""
KEEP_EVERY_S = 60.0


@dataclass
class Package:
    id: str
    person: str
    case: str | None
    trigger: str
    by: str
    created: int
    deadline: int
    wanted: list[Wanted]
    listed: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    status: str = "waiting"
    """waiting (for the agents), ready, failed."""
    built: int | None = None
    error: str | None = None
    summary: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        found = dict(self.__dict__)
        found["wanted"] = [w.as_dict() for w in self.wanted]
        return found

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> Package:
        return cls(**{**doc, "wanted": [Wanted(**w) for w in doc["wanted"]]})


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


class PackageDesk:
    def __init__(
        self,
        folder: Path,
        *,
        center: str,
        queries: Queries,
        agent_files: AgentFiles,
        publish: Callable[[str, tuple[Range, ...], tuple[Keep, ...]], bool],
        record: Callable[[str, dict[str, str], dict[str, Any], str], Any],
        hub_key: bytes,
        clock: Clock,
        wait_s: float,
        rooms: dict[str, str],
        alert_view: Callable[[Alert], dict[str, Any]],
        head: Callable[[], tuple[int, str]],
        evidence: Path,
    ) -> None:
        """``evidence``: the hub's evidence folder (belongings pictures, hub/web/evidence.py)."""
        self.evidence = evidence
        self.folder, self.center, self.queries, self.files = folder, center, queries, agent_files
        self.publish, self.record, self.key, self.clock = publish, record, hub_key, clock
        self.wait_ms, self.rooms, self.alert_view, self.head = int(wait_s * 1000), rooms, alert_view, head
        self.counters = {"packages_built": 0, "packages_failed": 0}
        self._packages: dict[str, Package] = {}
        self._lock = threading.Lock()
        self._jobs: queue.Queue[tuple[str, str, str, str] | None] = queue.Queue()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._digests: dict[tuple[str, int, int], str] = {}
        self._kept: dict[str, tuple[Keep, ...]] = {}
        self._thread = threading.Thread(target=self._run, name="packages", daemon=True)

    # lifecycle ------------------------------------------------------------------------------------
    def start(self) -> PackageDesk:
        for state in sorted(self.folder.glob("*/state.json")):
            try:
                pkg = Package.from_dict(json.loads(state.read_text(encoding="utf-8")))
            except (OSError, ValueError, TypeError, KeyError) as exc:
                log.error("package state %s unreadable: %s", state, exc)
                continue
            self._packages[pkg.id] = pkg
        self.republish()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._jobs.put(None)
        if self._thread.is_alive():
            self._thread.join(30)

    # asking -----------------------------------------------------------------------------------------
    def request(self, person: str, trigger: str, by: str) -> str:
        """Queue a package of ``person``'s custody; returns its id at once (built in the background)."""
        package = uuid7(self.clock.now_ms())
        self._jobs.put((package, person, trigger, by))
        return package

    def on_stored(self, stored: list[Stored], on_release: bool) -> None:
        """The ingest's stored events (its thread: only look): agents' answers, and releases."""
        for event in stored:
            if event.kind == "recording.segments":
                doc = json.loads(event.body)
                self._listing(str((doc.get("data") or {}).get("request") or ""), doc.get("data") or {})
            elif event.kind == "person.release" and on_release:
                person = (json.loads(event.body).get("subject") or {}).get("person")
                if person:
                    self.request(str(person), "release", "hub")

    def on_file(self, path: str) -> None:
        if path.startswith("segments/"):
            self._wake.set()

    def republish(self) -> None:
        """Every agent's fetch request as the waiting packages make it (on start and reconnect)."""
        agents = {w.agent for p in self._snapshot() for w in p.wanted}
        self._publish(agents)

    # reading ----------------------------------------------------------------------------------------
    def of_person(self, person: str) -> list[dict[str, Any]]:
        return [self._summary(p) for p in self._snapshot() if p.person == person]

    def get(self, package: str) -> dict[str, Any] | None:
        with self._lock:
            pkg = self._packages.get(package)
        if pkg is None:
            return None
        found = self._summary(pkg)
        index = self.folder / package / "index.json"
        if pkg.status == "ready" and index.is_file():
            found["index"] = json.loads(index.read_text(encoding="utf-8"))
            found["coverage"] = json.loads(
                (self.folder / package / "coverage.json").read_text(encoding="utf-8")
            )
        return found

    def file(self, package: str, name: str) -> Path | None:
        """A file of a ready package, by its name in the manifest (``parts/…``, ``index.json``)."""
        pkg = self._packages.get(package)
        if pkg is None or pkg.status != "ready" or ".." in name.split("/") or name.startswith("/"):
            return None
        path = self.folder / package / name
        return path if path.is_file() else None

    def archive(self, package: str) -> Path | None:
        pkg = self._packages.get(package)
        path = self.folder / f"{package}.zip"
        return path if pkg is not None and pkg.status == "ready" and path.is_file() else None

    def _summary(self, pkg: Package) -> dict[str, Any]:
        answered = sum(1 for w in pkg.wanted if w.id in pkg.listed)
        return {
            "id": pkg.id, "person": pkg.person, "case": pkg.case, "trigger": pkg.trigger, "by": pkg.by,
            "created": pkg.created, "status": pkg.status, "built": pkg.built, "error": pkg.error,
            "ranges": len(pkg.wanted), "answered": answered, **pkg.summary,
        }  # fmt: skip

    def _snapshot(self) -> list[Package]:
        with self._lock:
            return list(self._packages.values())

    # the desk's thread ------------------------------------------------------------------------------
    def _run(self) -> None:
        next_keep = 0.0
        while not self._stop.is_set():
            try:
                job = self._jobs.get(timeout=2.0)
            except queue.Empty:
                job = None
            if self._stop.is_set():
                return
            try:
                if time.monotonic() >= next_keep:  # open alerts' evidence: kept while they are open
                    next_keep = time.monotonic() + KEEP_EVERY_S
                    if self._keeps() != self._kept:
                        self._publish(set(self._kept))
                if job is not None:
                    self._open(*job)
                self._wake.clear()
                for pkg in self._snapshot():
                    if pkg.status == "waiting" and (
                        self._complete(pkg) or self.clock.now_ms() >= pkg.deadline
                    ):
                        self._build(pkg)
            except Exception:  # one package's fault must not stop the others
                log.exception("packages: a round failed; trying again")

    def _open(self, package: str, person: str, trigger: str, by: str) -> None:
        doc = self.queries.projection("person", person)
        if doc is None:
            log.warning("package of unknown person %s not made", person)
            return
        now = self.clock.now_ms()
        trail = read_trail(self.queries, doc)
        until = trail.until if trail.until is not None else now
        events = self.queries.recording(trail.since, until)
        owners = {str(c["id"]): str(c["agent"]) for c in self.queries.projections("camera") if c.get("agent")}
        owners.update({str((e.get("subject") or {}).get("camera")): str(e.get("agent")) for e in events})
        rooms = room_cameras(self.queries.projections("camera"), events)
        wanted = ranges(package, trail.stays(now), until, rooms, owners.get)
        last_end = max((w.end for w in wanted), default=now)
        pkg = Package(
            package, person, doc.get("case"), trigger, by, now, max(now, last_end) + self.wait_ms, wanted
        )
        with self._lock:
            self._packages[package] = pkg
        self._save(pkg)
        self._publish({w.agent for w in wanted})
        log.info("package %s of %s: %d ranges asked of %d agents", package, person, len(wanted),
                 len({w.agent for w in wanted}))  # fmt: skip

    def _listing(self, request: str, data: dict[str, Any]) -> None:
        package = request.rsplit("-", 1)[0]
        with self._lock:
            pkg = self._packages.get(package)
            if pkg is None or pkg.status != "waiting" or not any(w.id == request for w in pkg.wanted):
                return
            pkg.listed[request] = list(data.get("segments") or [])
        self._save(pkg)
        self._wake.set()

    def _present(self, agent: str, camera: str, entry: dict[str, Any]) -> bool:
        found = self.files.locate(agent, f"segments/{camera}/{entry.get('name')}")
        if found is None:
            return False
        info = found.stat()
        key = (str(found), info.st_size, info.st_mtime_ns)
        if key not in self._digests:
            if len(self._digests) > 50_000:
                self._digests.clear()
            self._digests[key] = str(digest_file(found)["sha256"])
        return self._digests[key] == entry.get("sha256")

    def _complete(self, pkg: Package) -> bool:
        if not Answers(pkg.listed).complete(pkg.wanted):
            return False
        by_id = {w.id: w for w in pkg.wanted}
        return all(
            self._present(by_id[rid].agent, by_id[rid].camera, entry)
            for rid, entries in pkg.listed.items() for entry in entries
        )  # fmt: skip

    def _save(self, pkg: Package) -> None:
        target = self.folder / pkg.id / "state.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(".state.json.part")
        partial.write_text(json.dumps(pkg.as_dict(), ensure_ascii=False), encoding="utf-8")
        partial.replace(target)

    def _publish(self, agents: set[str]) -> None:
        waiting = [p for p in self._snapshot() if p.status == "waiting"]
        keeps = self._keeps()
        self._kept = keeps
        for agent in sorted(agents | set(keeps)):
            mine = tuple(
                Range(w.id, w.camera, w.start, w.end) for p in waiting for w in p.wanted if w.agent == agent
            )
            self.publish(agent, mine[:MAX_RANGES], keeps.get(agent, ())[:MAX_RANGES])

    def _keeps(self) -> dict[str, tuple[Keep, ...]]:
        """Per agent, the time around each open alert on the cameras of its room: the agent keeps it
        from retention while the alert is open (its evidence), without sending it."""
        now = self.clock.now_ms()
        cameras = self.queries.projections("camera")
        spans: dict[tuple[str, str], list[tuple[int, int]]] = {}
        for alert in self.queries.alerts(AlertFilter(open_only=True, limit=1000)):
            room, named = alert.context.get("room"), alert.context.get("camera")
            start = alert.opened_ms - KEEP_AROUND_MS
            end = min(max(now, alert.opened_ms) + KEEP_AROUND_MS, start + MAX_KEEP_MS)
            for cam in cameras:
                if cam.get("agent") and (cam.get("id") == named or (room and cam.get("room") == room)):
                    spans.setdefault((str(cam["agent"]), str(cam["id"])), []).append((start, end))
        out: dict[str, list[Keep]] = {}
        for (agent, camera), found in sorted(spans.items()):  # overlapping alerts: one span
            out.setdefault(agent, []).extend(
                Keep(camera, s, min(e, s + MAX_KEEP_MS)) for s, e in union(found)
            )
        return {agent: tuple(keeps) for agent, keeps in out.items()}

    # building -------------------------------------------------------------------------------------------
    def _build(self, pkg: Package) -> None:
        try:
            self._assemble(pkg)
        except Exception as exc:
            log.exception("package %s failed", pkg.id)
            pkg.status, pkg.error = "failed", f"{type(exc).__name__}: {exc}"[:300]
            self.counters["packages_failed"] += 1
        self._save(pkg)
        self._publish({w.agent for w in pkg.wanted})

    def _assemble(self, pkg: Package) -> None:
        home = self.folder / pkg.id
        found, missing = parts(pkg.wanted, Answers(pkg.listed), self._present)
        (home / "parts").mkdir(parents=True, exist_ok=True)
        index = [self._join(pkg, part, home) for part in found]
        person = self.queries.projection("person", pkg.person) or {"id": pkg.person}
        trail = read_trail(self.queries, person)
        steps = trail_steps(self.queries, trail, self.rooms, self.alert_view)
        cover = person_coverage(self.queries, person, self.clock.now_ms()).as_dict()
        for piece in cover["uncovered"]:
            piece["room_name"] = self.rooms.get(piece["room"], piece["room"]) if piece["room"] else None
        unanswered = [w.as_dict() for w in pkg.wanted if w.id not in pkg.listed]
        self._write(home / "index.json", {"package": pkg.id, "person": pkg.person, "parts": index})
        belongings = self._belongings(pkg.person, trail.records, home)
        self._write(home / "records.json", {"person": person, "steps": steps, "belongings": belongings,
                                            "log": trail.records})  # fmt: skip
        self._write(home / "coverage.json", {**cover, "missing_segments": missing, "unanswered": unanswered})
        files = {
            p.relative_to(home).as_posix(): digest_file(p)
            for p in sorted(home.rglob("*")) if p.is_file() and p.name not in ("state.json", MANIFEST)
            and not p.name.startswith(".")
        }  # fmt: skip
        pos, head = self.head()
        meta = {"package": pkg.id, "center": self.center, "person": pkg.person, "case": pkg.case,
                "trigger": pkg.trigger, "by": pkg.by, "created": pkg.created, "built": self.clock.now_ms(),
                "custody": {"since": trail.since, "until": trail.until},
                "chain": {"pos": pos, "hash": head}}  # fmt: skip
        raw = make_manifest(meta, files, self.key)
        (home / MANIFEST).write_bytes(raw)
        self._zip(home, [*files, MANIFEST], self.folder / f"{pkg.id}.zip")
        pkg.status, pkg.built, pkg.error = "ready", self.clock.now_ms(), None
        pkg.summary = {"parts": len(index), "percent": cover["percent"], "missing": len(missing),
                       "manifest_sha256": manifest_sha256(raw)}  # fmt: skip
        subject = {"person": pkg.person, **({"case": pkg.case} if pkg.case else {})}
        self.record("package.built", subject, {"package": pkg.id, "trigger": pkg.trigger,
                    "manifest_sha256": manifest_sha256(raw), "files": len(files), "parts": len(index),
                    "percent": cover["percent"], "missing": len(missing)}, "hub")  # fmt: skip
        self.counters["packages_built"] += 1
        log.info("package %s of %s built: %d parts, %.1f %% on camera", pkg.id, pkg.person, len(index),
                 cover["percent"])  # fmt: skip

    def _belongings(self, person: str, records: list[dict[str, Any]], home: Path) -> dict[str, Any]:
        """The belongings ledger, each stored item's picture copied in (``belongings/…jpg``)."""
        entries = ledger(records)
        for entry in entries:
            picture = entry.get("picture") or {}
            name = f"{picture.get('camera')}-{picture.get('ts')}.jpg"
            source = self.evidence / f"belongings-{person}" / name
            if picture and source.is_file():
                target = home / "belongings" / source.name
                target.parent.mkdir(exist_ok=True)
                shutil.copyfile(source, target)
                entry["picture_file"] = target.relative_to(home).as_posix()
        return {"entries": entries, "still_held": still_held(entries)}

    def _join(self, pkg: Package, part: Part, home: Path) -> dict[str, Any]:
        """One part: the segments joined without re-encoding, moov first (plays while loading)."""
        agent = next(w.agent for w in pkg.wanted if w.camera == part.camera and w.stay == part.stay)
        sources = [self.files.locate(agent, f"segments/{part.camera}/{s['name']}") for s in part.segments]
        target = home / part.name
        join_segments([p for p in sources if p is not None], target)
        return {"file": part.name, "camera": part.camera, "room": part.room,
                "room_name": self.rooms.get(part.room, part.room), "stay": part.stay, "start": part.start,
                "end": part.end, "segments": len(part.segments), "media_ms": media_ms(target)}  # fmt: skip

    @staticmethod
    def _write(path: Path, doc: dict[str, Any]) -> None:
        path.write_text(json.dumps(doc, ensure_ascii=False, indent=1, sort_keys=True), encoding="utf-8")

    @staticmethod
    def _zip(home: Path, names: list[str], target: Path) -> None:
        partial = target.with_name(f".{target.name}.part")
        with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_STORED) as zf:
            for name in sorted(names):
                zf.write(home / name, name)
        partial.replace(target)

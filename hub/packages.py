"""Each person's package (一人一档 / 一案一打包): their recordings, records and coverage, signed.

On release (``packages.on_release``) or on demand, the desk pins the custody the package covers,
reads the person's trail (hub/trail.py) and asks the owning agents for every camera of every room
they were in, while they were there (hub/package_plan.py, protocol/fetch.py); it waits for the
agents' ``recording.segments`` answers (checked against the agent, camera and range asked) and the
segment files, then hub/package_build.py assembles and signs the package and the desk logs a
``package.built`` record. A package not complete within ``packages.wait_s`` is built with what
arrived. Every package's state lives in its folder (hub/package_state.py) from the moment it is
asked for, so a restarted hub plans what was queued and asks again for what it waits for — and
gives the agents ``wait_s`` more before building, as their answers may still be on the way.

The retained fetch request per agent (protocol/fetch.py) carries at most 256 unfinished ranges,
oldest first (more follow as answers come in), and ``keep`` spans for the open alerts' time.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hub.agent_files import AgentFiles
from hub.alerts import Alert
from hub.coverage import union
from hub.coverage_watch import room_cameras
from hub.package_build import PRIVATE_FILES, PackageBuilder
from hub.package_manifest import MANIFEST, digest_file
from hub.package_plan import Wanted, ranges
from hub.package_state import Package, PackageStates
from hub.queries import AlertFilter, Queries
from hub.store import Stored
from hub.trail import read_trail
from protocol.clock import Clock
from protocol.fetch import MAX_KEEP_MS, MAX_RANGES, Keep, Range
from protocol.ids import uuid7

log = logging.getLogger(__name__)
KEEP_AROUND_MS = 5 * 60_000
"""An open alert keeps its room's recording from this long before it opened to this long after now."""
KEEP_EVERY_S = 60.0
DIGESTS_KEPT = 200_000
ALL_AGENTS = "*"


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
        self.folder, self.queries, self.files = folder, queries, agent_files
        self.publish, self.record, self.clock = publish, record, clock
        self.wait_ms = int(wait_s * 1000)
        self.builder = PackageBuilder(folder, center, queries, agent_files, hub_key, clock, rooms, alert_view,
                                      head, evidence, self._present)  # fmt: skip
        self.states = PackageStates(folder)
        self.counters = {"packages_built": 0, "packages_failed": 0, "answers_refused": 0}
        self._packages: dict[str, Package] = {}
        self._jobs: queue.Queue[str | None] = queue.Queue()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._publishing = threading.Lock()
        self._digests: dict[tuple[str, int, int], str] = {}
        self._kept: dict[str, tuple[Keep, ...]] = {}
        self._in_use = False
        self._dirty: set[str] = set()
        """Agents whose request must be published again (the desk thread does it)."""
        self._digest_lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="packages", daemon=True)

    # lifecycle ------------------------------------------------------------------------------------
    def start(self) -> PackageDesk:
        now = self.clock.now_ms()
        for pkg in self.states.load():
            self._packages[pkg.id] = pkg
            if pkg.status == "queued":
                self._jobs.put(pkg.id)
            elif pkg.status == "waiting":  # answers may still wait in the broker and the outboxes
                pkg.deadline = max(pkg.deadline, now + self.wait_ms)
        self.republish()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._jobs.put(None)
        if self._thread.is_alive():
            self._thread.join(30)

    # asking ---------------------------------------------------------------------------------------
    def request(self, person: str, trigger: str, by: str, released: int | None = None) -> str:
        """Queue a package of ``person``'s custody (``released``: the release that ended it);
        returns its id at once. Saved before it is queued: a restart does not lose it."""
        now = self.clock.now_ms()
        pkg = Package(uuid7(now), person, trigger, by, now, released=released)
        with self.states.lock:
            self._packages[pkg.id] = pkg
            self.states.save(pkg)
        self._jobs.put(pkg.id)
        return pkg.id

    def request_case(self, case: str, persons: list[str], by: str) -> str:
        """A case's package: a package of each of its persons' custody, then all of them together
        with the case's record (hub/package_build.py ``assemble_case``)."""
        members = [self.request(person, "case", by) for person in persons]
        now = self.clock.now_ms()
        pkg = Package(uuid7(now), "", "request", by, now, case=case, status="waiting", kind="case",
                      members=members)  # fmt: skip
        with self.states.lock:
            self._packages[pkg.id] = pkg
            self.states.save(pkg)
        return pkg.id

    def of_case(self, case: str) -> list[dict[str, Any]]:
        return [self._summary(p) for p in self._snapshot() if p.kind == "case" and p.case == case]

    def on_stored(self, stored: list[Stored], on_release: bool) -> None:
        """The ingest's stored events (its thread: only look): agents' answers, and releases."""
        for event in stored:
            if event.kind not in ("recording.segments", "person.release"):
                continue
            try:
                doc = json.loads(event.body)
                if event.kind == "recording.segments":
                    self._listing(doc)
                elif on_release and (doc.get("subject") or {}).get("person") and self._recording_in_use():
                    self.request(str(doc["subject"]["person"]), "release", "hub", int(doc["ts"]))
            except Exception:  # one event's trouble must not cost the rest of the round
                log.exception("package bookkeeping for event %s failed", event.id)

    def _recording_in_use(self) -> bool:
        """A release builds a package once the centre records with casewatch (a centre recording on
        its own NVR asks for packages on demand: they hold the records and coverage, no video)."""
        if not self._in_use:
            self._in_use = bool(self.queries.events(kind="recording.state", limit=1))
        return self._in_use

    def on_file(self, path: str) -> None:
        if path.startswith("segments/"):
            self._wake.set()

    def republish(self) -> None:
        """Every agent's fetch request again — a clear that could not be sent included (on start
        and reconnect)."""
        self._publish({ALL_AGENTS})

    # reading --------------------------------------------------------------------------------------
    def of_person(self, person: str) -> list[dict[str, Any]]:
        return [self._summary(p) for p in self._snapshot() if p.person == person]

    def get(self, package: str) -> dict[str, Any] | None:
        pkg = self._packages.get(package)
        if pkg is None:
            return None
        found = self._summary(pkg)
        home = self.folder / package
        if pkg.status == "ready" and (home / "index.json").is_file():
            found["index"] = json.loads((home / "index.json").read_text(encoding="utf-8"))
            found["coverage"] = json.loads((home / "coverage.json").read_text(encoding="utf-8"))
        return found

    def file(self, package: str, name: str, *, private: bool) -> Path | None:
        """A file of a ready package by its exact name in the manifest; ``private``: the caller
        may read the person's full record (``records.json``, ``manifest.json``, ``belongings/``)."""
        pkg = self._packages.get(package)
        if pkg is None or pkg.status != "ready":
            return None
        home = self.folder / package
        try:
            listed = set(json.loads((home / MANIFEST).read_text(encoding="utf-8"))["files"]) | {MANIFEST}
        except (OSError, ValueError, KeyError):
            return None
        parts = name.split("/")
        personal = parts[-1] in PRIVATE_FILES or "belongings" in parts[:-1]  # persons/{id}/… too
        if name not in listed or (not private and personal):
            return None
        return home / name

    def archive(self, package: str) -> Path | None:
        pkg = self._packages.get(package)
        path = self.folder / f"{package}.zip"
        return path if pkg is not None and pkg.status == "ready" and path.is_file() else None

    def _summary(self, pkg: Package) -> dict[str, Any]:
        with self.states.lock:
            answered = sum(1 for w in pkg.wanted if w.id in pkg.listed)
            return {
                "id": pkg.id, "person": pkg.person, "case": pkg.case, "trigger": pkg.trigger, "by": pkg.by,
                "created": pkg.created, "status": pkg.status, "built": pkg.built, "error": pkg.error,
                "ranges": len(pkg.wanted), "answered": answered, "since": pkg.since, "until": pkg.until,
                "kind": pkg.kind, "members": list(pkg.members),
                **pkg.summary,
            }  # fmt: skip

    def _snapshot(self) -> list[Package]:
        with self.states.lock:
            return list(self._packages.values())

    # the desk's thread ----------------------------------------------------------------------------
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
                if time.monotonic() >= next_keep:  # open alerts' evidence, refreshed every minute
                    next_keep = time.monotonic() + KEEP_EVERY_S
                    self._dirty.add(ALL_AGENTS)
                _ = job  # a queued package is planned below, as is one whose planning failed
                self._round()
            except Exception:  # one package's fault must not stop the others
                log.exception("packages: a round failed; trying again")

    def _round(self) -> None:
        for pkg in self._snapshot():
            if pkg.status == "queued" and pkg.kind == "person":
                try:
                    self._plan(pkg)
                except Exception:  # a locked store, an odd record: planned again next round
                    log.exception("package %s not planned yet; trying again", pkg.id)
        for pkg in self._snapshot():
            if pkg.kind == "case":
                self._case_round(pkg)
            elif pkg.status == "waiting" and (self._complete(pkg) or self.clock.now_ms() >= pkg.deadline):
                self._build(pkg)
        with self.states.lock:
            dirty, self._dirty = self._dirty, set()
        if dirty:
            self._publish(dirty)

    def _custody(self, pkg: Package, doc: dict[str, Any]) -> tuple[int, int | None]:
        """The custody a package covers: the one its release ended, or the person's current one."""
        if pkg.released is None or doc.get("released") == pkg.released:
            return int(doc.get("arrived") or 0), doc.get("released")
        intakes = [r for r in self.queries.about_person(pkg.person)
                   if r.get("kind") == "person.intake" and int(r.get("ts") or 0) <= pkg.released]  # fmt: skip
        arrived = (intakes[-1].get("data") or {}).get("arrived") if intakes else None
        return int(arrived or 0), pkg.released

    def _plan(self, pkg: Package) -> None:
        doc = self.queries.projection("person", pkg.person)
        if doc is None or pkg.status != "queued":
            if doc is None:
                pkg.status, pkg.error = "failed", f"unknown person {pkg.person}"
                self.states.save(pkg)
            return
        now = self.clock.now_ms()
        since, until = self._custody(pkg, doc)
        trail = read_trail(self.queries, {**doc, "arrived": since, "released": until})
        end = until if until is not None else now
        events = self.queries.recording(since, end)
        cameras = self.queries.projections("camera")
        owners = {str(c["id"]): str(c["agent"]) for c in cameras if c.get("agent")}
        for e in events:  # the health reports' owner first; a recording event only for a camera they lack
            owners.setdefault(str((e.get("subject") or {}).get("camera")), str(e.get("agent")))
        wanted = ranges(pkg.id, trail.stays(now), end, room_cameras(cameras, events), owners.get)
        with self.states.lock:
            pkg.case, pkg.since, pkg.until, pkg.wanted = doc.get("case"), since, end, wanted
            pkg.deadline = max((w.end for w in wanted), default=now) + self.wait_ms
            pkg.status = "waiting"
            self.states.save(pkg)
        with self.states.lock:
            self._dirty |= {w.agent for w in wanted}
        log.info("package %s of %s: %d ranges asked of %d agents", pkg.id, pkg.person, len(wanted),
                 len({w.agent for w in wanted}))  # fmt: skip

    def _listing(self, doc: dict[str, Any]) -> None:
        """An agent's answer, taken only for the range it was asked: same agent, camera and times."""
        data, subject = doc.get("data") or {}, doc.get("subject") or {}
        request = str(data.get("request") or "")
        pkg = self._packages.get(request.rsplit("-", 1)[0])
        wanted = next((w for w in pkg.wanted if w.id == request), None) if pkg is not None else None
        if pkg is None or wanted is None or pkg.status != "waiting":
            return
        if (doc.get("agent"), subject.get("camera"), data.get("start"), data.get("end")) != (
            wanted.agent,
            wanted.camera,
            wanted.start,
            wanted.end,
        ):
            self.counters["answers_refused"] += 1
            log.warning("answer to %s from %s refused: not the range it was asked", request, doc.get("agent"))
            return
        with self.states.lock:
            pkg.listed[request] = list(data.get("segments") or [])
            self.states.save_listing(pkg, request)
            self._dirty.add(wanted.agent)  # the desk thread asks for the next ranges, if held back

    def _present(self, agent: str, camera: str, entry: dict[str, Any]) -> bool:
        """The hub holds this segment file from that agent, with the digest the agent listed."""
        found = self.files.locate(agent, f"segments/{camera}/{entry.get('name')}")
        if found is None:
            return False
        info = found.stat()
        key = (str(found), info.st_size, info.st_mtime_ns)
        with self._digest_lock:
            digest = self._digests.get(key)
        if digest is None:
            digest = str(digest_file(found)["sha256"])
            with self._digest_lock:
                if len(self._digests) > DIGESTS_KEPT:
                    self._digests.clear()
                self._digests[key] = digest
        return digest == entry.get("sha256")

    def _unfinished(self, pkg: Package) -> list[Any]:
        """Ranges not answered yet, or answered with segments not all here (by name: a segment two
        ranges list counts once)."""
        with self.states.lock:
            listed = {k: list(v) for k, v in pkg.listed.items()}
        out = []
        for w in pkg.wanted:
            if w.id not in listed or not all(self._present(w.agent, w.camera, e) for e in listed[w.id]):
                out.append(w)
        return out

    def _complete(self, pkg: Package) -> bool:
        return not self._unfinished(pkg)

    def _publish(self, agents: set[str]) -> None:
        """Each agent's request: its unanswered ranges, oldest first, 256 at a time (answered ranges
        leave the request: their segments are on their way), and as ``keep`` the open alerts' time
        and the answered ranges whose files have not all come (retention must not take them)."""
        with self._publishing:  # what is published last is what the agent keeps (retained)
            waiting = [p for p in self._snapshot() if p.status == "waiting"]
            unfinished = [w for p in waiting for w in self._unfinished(p)]
            with self.states.lock:
                answered = {w.id for p in waiting for w in p.wanted if w.id in p.listed}
            keeps = self._keeps([w for w in unfinished if w.id in answered])
            owners = {str(c["agent"]) for c in self.queries.projections("camera") if c.get("agent")}
            touched = set(keeps) | set(self._kept)  # a keep that ends must be cleared too
            everyone = owners | {w.agent for p in self._snapshot() for w in p.wanted} | touched
            for agent in sorted(everyone if ALL_AGENTS in agents else agents | touched):
                mine = sorted((w for w in unfinished if w.agent == agent and w.id not in answered),
                              key=lambda w: (w.start, w.id))  # fmt: skip
                kept = keeps.get(agent, ())
                if len(mine) > MAX_RANGES or len(kept) > MAX_RANGES:
                    log.warning("agent %s: %d ranges and %d keep spans wanted, %d of each sent now",
                                agent, len(mine), len(kept), MAX_RANGES)  # fmt: skip
                asked = tuple(Range(w.id, w.camera, w.start, w.end) for w in mine[:MAX_RANGES])
                if not self.publish(agent, asked, kept[:MAX_RANGES]):
                    with self.states.lock:
                        self._dirty.add(agent)  # not sent (the link is down): again next round
            self._kept = keeps

    def _keeps(self, pending: list[Wanted]) -> dict[str, tuple[Keep, ...]]:
        """Per agent, the time around each open alert on the cameras of its room (its evidence,
        kept while the alert is open) and the ``pending`` ranges, merged per camera and cut into
        spans of at most a day."""
        now = self.clock.now_ms()
        cameras = self.queries.projections("camera")
        spans: dict[tuple[str, str], list[tuple[int, int]]] = {}
        for w in pending:
            spans.setdefault((w.agent, w.camera), []).append((w.start, w.end))
        for alert in self.queries.alerts(AlertFilter(open_only=True, limit=1000)):
            room, named = alert.context.get("room"), alert.context.get("camera")
            start = alert.opened_ms - KEEP_AROUND_MS
            end = min(max(now, alert.opened_ms) + KEEP_AROUND_MS, start + MAX_KEEP_MS)
            for cam in cameras:
                if cam.get("agent") and (cam.get("id") == named or (room and cam.get("room") == room)):
                    spans.setdefault((str(cam["agent"]), str(cam["id"])), []).append((start, end))
        out: dict[str, list[Keep]] = {}
        for (agent, camera), found in sorted(spans.items()):  # overlapping alerts: one span
            for start, end in union(found):
                while start < end:  # a span the agent takes is at most a day long
                    out.setdefault(agent, []).append(Keep(camera, start, min(end, start + MAX_KEEP_MS)))
                    start += MAX_KEEP_MS
        return {agent: tuple(sorted(keeps, key=lambda k: k.start)) for agent, keeps in out.items()}

    def _case_round(self, pkg: Package) -> None:
        """A case's package is built once each of its persons' packages is ready or failed."""
        members = [self._packages.get(m) or Package(m, "?", "case", pkg.by, pkg.created, status="failed",
                                                    error="its state was lost")
                   for m in pkg.members]  # fmt: skip
        if pkg.status != "waiting" or any(m.status not in ("ready", "failed") for m in members):
            return
        try:
            summary, record = self.builder.assemble_case(pkg, members)
        except Exception as exc:
            log.exception("case package %s failed", pkg.id)
            with self.states.lock:
                pkg.status, pkg.error = "failed", f"{type(exc).__name__}: {exc}"[:300]
                self.states.save(pkg)
            return
        with self.states.lock:
            pkg.status, pkg.built, pkg.summary = "ready", self.clock.now_ms(), summary
            self.states.save(pkg)
        try:
            self.record("package.case", {"case": str(pkg.case)}, record, "hub")
        except Exception as exc:
            log.error("case package %s built but not logged: %s", pkg.id, exc)

    def _build(self, pkg: Package) -> None:
        try:
            summary, record = self.builder.assemble(pkg)
        except Exception as exc:
            log.exception("package %s failed", pkg.id)
            with self.states.lock:
                pkg.status, pkg.error = "failed", f"{type(exc).__name__}: {exc}"[:300]
                self.states.save(pkg)
                self._dirty |= {w.agent for w in pkg.wanted}  # its ranges leave the requests
            self.counters["packages_failed"] += 1
            return
        with self.states.lock:
            pkg.status, pkg.built, pkg.error, pkg.summary = "ready", self.clock.now_ms(), None, summary
            self.states.save(pkg)
        self.counters["packages_built"] += 1
        subject = {"person": pkg.person, **({"case": pkg.case} if pkg.case else {})}
        try:
            self.record("package.built", subject, record, "hub")
        except Exception as exc:  # built and signed; the log row is what is missing: said, not fatal
            log.error("package %s built but not logged: %s", pkg.id, exc)
        with self.states.lock:
            self._dirty |= {w.agent for w in pkg.wanted}
        log.info("package %s of %s built: %d parts, %.1f %% on camera", pkg.id, pkg.person, summary["parts"],
                 summary["percent"])  # fmt: skip

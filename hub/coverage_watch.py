"""Custody time off camera, found as the log learns of it and logged once per piece.

After each committed round the ingest hands the stored events here (cheap: only kinds that can
change a coverage mark persons to look at again): a ``recording.gap`` concerns everyone in
custody over its interval, a release or a band's move its person. A thread of its own then reads
each marked person's trail and the cameras' recording events (hub/trail.py, hub/coverage.py) and
logs every uncovered piece of room time not logged before as a ``coverage.gap`` hub record —
rule REC-GAP turns it into an alert. Only closed pieces are logged: a piece still growing (the
person is still in a room without a camera) waits until it ends, or for the release. What was
logged is read back from the log, so a restart or a rebuild never logs a piece twice.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

from hub.coverage import Coverage, Uncovered, camera_records, coverage
from hub.projections import Projections
from hub.queries import Queries
from hub.store import Stored
from hub.trail import read_trail
from protocol.clock import Clock

log = logging.getLogger(__name__)
BY = "coverage"
PAUSE_S = 2.0
_WATCHED = ("recording.gap", "recording.state", "person.release", "band.position")


def room_cameras(cameras: Iterable[dict[str, Any]], events: Iterable[dict[str, Any]]) -> dict[str, list[str]]:
    """Each room's cameras: those the agents' health reports place there (the ``camera`` read
    model), and those recorded there (the recording events' subjects)."""
    out: dict[str, set[str]] = {}
    for doc in cameras:
        if doc.get("room") and doc.get("id"):
            out.setdefault(str(doc["room"]), set()).add(str(doc["id"]))
    for doc in events:
        subject = doc.get("subject") or {}
        if subject.get("room") and subject.get("camera"):
            out.setdefault(str(subject["room"]), set()).add(str(subject["camera"]))
    return {room: sorted(cams) for room, cams in out.items()}


def person_coverage(
    queries: Queries,
    person: dict[str, Any],
    now_ms: int,
    window: tuple[int, int] | None = None,
    bindings: list[dict[str, Any]] | None = None,
) -> Coverage:
    """The coverage of one person's custody (to the release, or to now), within ``window`` when
    given (a report's period); reads only the store (``bindings``: hub/trail.py ``read_trail``)."""
    trail = read_trail(queries, person, bindings)
    until = trail.until if trail.until is not None else now_ms
    since = trail.since
    if window is not None:
        since, until = max(since, window[0]), max(max(since, window[0]), min(until, window[1]))
    events = queries.recording(trail.since, until)
    rooms = room_cameras(queries.projections("camera"), events)
    return coverage(trail.stays(now_ms), since, until, rooms, camera_records(events, until))


class CoverageWatch:
    def __init__(
        self,
        queries: Queries,
        projections: Callable[[], Projections],
        record: Callable[[str, dict[str, str], dict[str, Any], str], Any],
        clock: Clock,
    ) -> None:
        """``record(kind, subject, data, by)`` logs a hub record (the ingest's queue); ``projections``
        are the ingest's, read on the ingest thread only (``on_stored``)."""
        self.queries, self.projections, self.record, self.clock = queries, projections, record, clock
        self.counters = {"coverage_checks": 0, "coverage_gaps": 0, "coverage_errors": 0}
        self._dirty: set[str] = set()
        self._in_use = False
        self._sent: dict[str, set[tuple[str | None, int]]] = {}
        """Pieces handed to the ingest, per person: the store may not show them yet."""
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="coverage-watch", daemon=True)

    def start(self) -> CoverageWatch:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(10)

    def on_stored(self, stored: list[Stored]) -> None:
        """Mark the persons a round's events may concern (the ingest thread: no reads here)."""
        marked: set[str] = set()
        p = self.projections()
        for event in stored:
            if event.kind not in _WATCHED:
                continue
            doc = json.loads(event.body)
            subject, data = doc.get("subject") or {}, doc.get("data") or {}
            if event.kind in ("recording.gap", "recording.state"):
                since = int(data.get("start") or data.get("since") or event.ts)
                marked |= {pid for pid, doc in p.persons.items() if (doc.get("released") or 2**62) >= since}
            elif event.kind == "person.release" and subject.get("person"):
                marked.add(str(subject["person"]))
            elif event.kind == "band.position":
                binding = p.bands.get(str(subject.get("band") or "")) or {}
                if binding.get("person"):
                    marked.add(str(binding["person"]))
        if marked:
            with self._lock:
                self._dirty |= marked
            self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(5.0)
            self._wake.clear()
            with self._lock:
                todo, self._dirty = sorted(self._dirty), set()
            for pid in todo:
                if self._stop.is_set():
                    return
                try:
                    self.check(pid)
                except Exception:  # a reading that fails is tried again with the next mark
                    self.counters["coverage_errors"] += 1
                    log.exception("coverage of %s not checked", pid)
            self._stop.wait(PAUSE_S)  # a burst of moves is read once, not once per move

    def _recording_in_use(self) -> bool:
        """Whether this centre records with casewatch at all: until an agent has reported a camera
        on record, custody time is not checked (a centre recording on its own NVR would otherwise
        have every minute flagged ``not_recorded``)."""
        if not self._in_use:
            self._in_use = bool(self.queries.events(kind="recording.state", limit=1))
        return self._in_use

    def check(self, pid: str) -> list[Uncovered]:
        """Log the person's closed, uncovered room time not logged yet; returns what was logged."""
        person = self.queries.projection("person", pid)
        if person is None or not self._recording_in_use():
            return []
        self.counters["coverage_checks"] += 1
        now = self.clock.now_ms()
        found = person_coverage(self.queries, person, now)
        logged = {
            (r["data"].get("room"), r["data"].get("start"))
            for r in self.queries.about_person(pid)
            if r.get("kind") == "coverage.gap" and int(r.get("ts") or 0) >= int(person.get("arrived") or 0)
        }
        sent = self._sent.get(pid, set())
        if sent and sent <= logged:  # committed: the store says it from now on
            del self._sent[pid]
        logged |= sent  # queued, maybe not committed yet: not twice
        released = person.get("released") is not None
        new = [
            u for u in found.uncovered
            if u.room is not None and (u.room, u.start) not in logged and (released or u.end < found.until)
        ]  # fmt: skip
        for piece in new:
            assert piece.room is not None
            data = {"room": piece.room, "start": piece.start, "end": piece.end, "reason": piece.reason,
                    "cause": piece.cause, "cameras": list(piece.cameras), "detail": piece.detail}  # fmt: skip
            subject = {"person": pid, "room": piece.room}
            if person.get("case"):
                subject["case"] = str(person["case"])
            self.record("coverage.gap", subject, data, BY)
            self._sent.setdefault(pid, set()).add((piece.room, piece.start))
            self.counters["coverage_gaps"] += 1
            log.warning("%s: %d s in %s off camera (%s)", pid, (piece.end - piece.start) // 1000, piece.room,
                        piece.cause or piece.reason)  # fmt: skip
        return new

"""What a person's package needs and what it is made of, without I/O.

From the person's stays and each room's cameras: the recording ranges to ask the agents for (one
per camera and stay, cut to the fetch request's 10 minutes). From the agents' answers (which
segments overlap each range) and the files that arrived: one part per camera and stay and run of
contiguous segments — a hole in the recording starts a new part, so a part's timeline is never
squeezed. Nothing is cut inside a segment: each part starts and ends on segment boundaries
(keyframes), within one segment of the stay.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hub.timeline import Stay
from protocol.fetch import MAX_RANGE_MS

JOIN_MS = 3_000
"""Segments closer than this are one run (a segment ends at its file's last write)."""


@dataclass(frozen=True)
class Wanted:
    """One range of one camera for one stay (``stay``: its index in the person's stays)."""

    id: str
    agent: str
    camera: str
    room: str
    stay: int
    start: int
    end: int

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Part:
    camera: str
    room: str
    stay: int
    segments: tuple[dict[str, Any], ...]
    """The agent's listing entries (``name``, ``start``, ``end``, ``size``, ``sha256``), in order."""

    @property
    def start(self) -> int:
        return int(self.segments[0]["start"])

    @property
    def end(self) -> int:
        return int(self.segments[-1]["end"])

    @property
    def name(self) -> str:
        """Unique in the package: two stays may begin in one segment (a band lost a moment)."""
        return f"parts/{self.start // 1000}-{self.camera}-{self.stay}.mp4"


@dataclass
class Answers:
    """What came back for a package: each range's listing, and the segment files that arrived."""

    listed: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def complete(self, wanted: Sequence[Wanted]) -> bool:
        return all(w.id in self.listed for w in wanted)


def ranges(
    package: str,
    stays: Sequence[Stay],
    until: int,
    room_cameras: Mapping[str, Sequence[str]],
    owner: Callable[[str], str | None],
) -> list[Wanted]:
    """The ranges to ask for: each camera of each stay's room, cut into pieces of ≤ 10 minutes."""
    out: list[Wanted] = []
    for index, stay in enumerate(stays):
        end = stay.left if stay.left is not None else until
        for camera in room_cameras.get(stay.room, ()):
            agent = owner(camera)
            if agent is None:
                continue
            at = stay.entered
            while at < end:
                upto = min(end, at + MAX_RANGE_MS)
                out.append(Wanted(f"{package}-{len(out) + 1}", agent, camera, stay.room, index, at, upto))
                at = upto
    return out


def parts(
    wanted: Sequence[Wanted], answers: Answers, present: Callable[[str, str, dict[str, Any]], bool]
) -> tuple[list[Part], list[dict[str, Any]]]:
    """The parts to assemble, and the listed segments that did not arrive (``present(agent,
    camera, entry)`` says whether the hub holds the file with the listed digest)."""
    grouped: dict[tuple[int, str], tuple[Wanted, dict[str, dict[str, Any]]]] = {}
    missing: list[dict[str, Any]] = []
    for w in wanted:
        _first, found = grouped.setdefault((w.stay, w.camera), (w, {}))
        for entry in answers.listed.get(w.id, []):
            if entry["name"] in found:
                continue
            if present(w.agent, w.camera, entry):
                found[entry["name"]] = entry
            else:
                missing.append({"camera": w.camera, "agent": w.agent, **entry})
    out: list[Part] = []
    for (stay, camera), (first, found) in sorted(grouped.items()):
        run: list[dict[str, Any]] = []
        for entry in sorted(found.values(), key=lambda e: int(e["start"])):
            if run and int(entry["start"]) - int(run[-1]["end"]) > JOIN_MS:
                out.append(Part(camera, first.room, stay, tuple(run)))
                run = []
            run.append(entry)
        if run:
            out.append(Part(camera, first.room, stay, tuple(run)))
    held = {(part.camera, e["name"]) for part in out for e in part.segments}
    unique = {(m["camera"], m["name"]): m for m in missing if (m["camera"], m["name"]) not in held}
    return out, list(unique.values())

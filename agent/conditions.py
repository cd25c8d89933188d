"""Violations the agent can see now, debounced into start/end pairs. Pure: times come in.

The agent says what is true now; the hub decides for how long and what follows. A condition
starts only after it has held for ``start_after_ms`` and ends only after it has been absent for
``end_after_ms``, so a flickering count cannot open and close it repeatedly. Each start carries
the facts as first seen and an id; its end carries the same id and the duration.

Conditions (``protocol.data.ConditionName``):
- ``understaffed``: detainees present, officers fewer than the room requires but at least one
  (the interrogation held by one officer, 刑诉法 第118条);
- ``unattended``: detainees present and no staff (一律有人负责看管), except exempt rooms and exits;
- ``co_suspects``: two detainees of one case key in one room (防串供);
- ``mixed_sexes``: detainees of both sexes in a waiting room (盘问规定 第30条);
- ``special_group_waiting``: a minor or special-group detainee in a waiting room (盘问规定 第10条);
- ``coverage_lost``: an occupied room with a camera offline, covered, frozen, defocused or moved;
- ``exit_zone``: a detainee band in an exit room;
- ``minor_unaccompanied``: a minor detainee in an interrogation or inquiry room with no guardian
  (or appropriate adult) band present (刑诉法 第281条, 行规 第75条).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from agent.room_state import Fusion, RoomState
from protocol.data import ConditionEnd, ConditionStart, Evidence, Facts


@dataclass(frozen=True)
class Candidate:
    name: str
    room: str
    facts: Facts


@dataclass
class _Tracked:
    first_seen: int
    facts: Facts
    last_seen: int
    condition_id: str | None = None
    started: int | None = None


@dataclass(frozen=True)
class Started:
    room: str
    data: ConditionStart
    at_ms: int


@dataclass(frozen=True)
class Ended:
    room: str
    data: ConditionEnd
    at_ms: int


def candidates(state: RoomState, fusion: Fusion) -> list[Candidate]:
    room = state.room
    found: list[Candidate] = []
    registrations = [fusion.registry[b] for b in state.detainees if b in fusion.registry]
    # whose condition it is: the detainees' cases, so the hub can reach the case's officers
    present_cases = sorted({r.case for r in registrations if r.case})

    def facts(**extra: object) -> Facts:
        return Facts.model_validate(
            {
                "persons": state.persons,
                "detainees": state.detainee_count,
                "officers": state.officers,
                "required_officers": room.required_officers(),
                "bands": list(state.detainees),
                "cases": present_cases,
                "cameras": list(state.cameras),
                **extra,
            }
        )

    if not state.detainee_count:
        if state.cameras_unhealthy and (
            state.persons or any(fusion.last_count(c) for c in state.cameras_unhealthy)
        ):
            found.append(Candidate("coverage_lost", room.id, facts(cameras=list(state.cameras_unhealthy))))
        return found
    if room.type == "exit":
        found.append(Candidate("exit_zone", room.id, facts()))
    elif state.staff == 0:
        if not room.unattended_exempt:
            found.append(Candidate("unattended", room.id, facts()))
    elif state.officers < room.required_officers():
        found.append(Candidate("understaffed", room.id, facts()))
    cases = Counter(r.case for r in registrations if r.case)
    shared = sorted(case for case, n in cases.items() if n >= 2)
    if shared:
        found.append(Candidate("co_suspects", room.id, facts(cases=shared)))
    if room.type in ("interrogation", "inquiry") and any(r.flags.minor for r in registrations):
        roles = {fusion.registry[b].role for b in state.bands if b in fusion.registry}
        if "guardian" not in roles:
            found.append(Candidate("minor_unaccompanied", room.id, facts()))
    if room.type == "waiting":
        if len({r.sex for r in registrations if r.sex}) > 1:
            found.append(Candidate("mixed_sexes", room.id, facts()))
        if any(r.flags.minor or r.flags.special_group for r in registrations):
            found.append(Candidate("special_group_waiting", room.id, facts()))
    if state.cameras_unhealthy:
        found.append(Candidate("coverage_lost", room.id, facts(cameras=list(state.cameras_unhealthy))))
    return found


@dataclass
class ConditionTracker:
    new_id: Callable[[int], str]
    start_after_ms: int = 3000
    end_after_ms: int = 5000
    _tracked: dict[tuple[str, str], _Tracked] = field(default_factory=dict)
    _ended_rooms: set[str] = field(default_factory=set)

    def active(self) -> dict[tuple[str, str], str]:
        """(condition, room) -> condition id of every started condition."""
        return {key: t.condition_id for key, t in self._tracked.items() if t.condition_id is not None}

    def evaluate(
        self,
        found: list[Candidate],
        now_ms: int,
        evidence: Callable[[Candidate, str], Evidence] | None = None,
        ended_rooms: frozenset[str] = frozenset(),
    ) -> list[Started | Ended]:
        """``ended_rooms``: rooms whose every camera was a file read to its end — their
        conditions close at once as ``source_ended`` (nobody can see whether they resolved)."""
        out: list[Started | Ended] = []
        still = {(c.name, c.room) for c in found}
        for key in [k for k in self._tracked if k[1] in ended_rooms - self._ended_rooms and k not in still]:
            gone = self._tracked.pop(key)  # it needed the cameras that just ended; band-only ones go on
            if gone.condition_id is not None and gone.started is not None:
                out.append(self._ended(key, gone, "source_ended"))
        self._ended_rooms = set(ended_rooms)
        seen = {(c.name, c.room): c for c in found}
        for key, candidate in seen.items():
            tracked = self._tracked.get(key)
            if tracked is None:
                tracked = self._tracked[key] = _Tracked(now_ms, candidate.facts, now_ms)
            tracked.last_seen = now_ms
            if tracked.condition_id is None and now_ms - tracked.first_seen >= self.start_after_ms:
                tracked.condition_id = self.new_id(tracked.first_seen)
                tracked.started = tracked.first_seen
                proof = evidence(candidate, tracked.condition_id) if evidence else Evidence()
                data = ConditionStart.model_validate(
                    {
                        "condition": key[0],
                        "condition_id": tracked.condition_id,
                        "facts": tracked.facts,
                        "evidence": proof,
                    }
                )
                out.append(Started(key[1], data, tracked.first_seen))
        for key in [k for k in self._tracked if k not in seen]:
            tracked = self._tracked[key]
            if tracked.condition_id is None:
                del self._tracked[key]  # not started yet: it must hold without a break to start
                continue
            if now_ms - tracked.last_seen < self.end_after_ms:
                continue
            del self._tracked[key]
            if tracked.condition_id is not None and tracked.started is not None:
                out.append(self._ended(key, tracked, "resolved"))
        return out

    @staticmethod
    def _ended(key: tuple[str, str], tracked: _Tracked, reason: str) -> Ended:
        assert tracked.started is not None
        ended_at = tracked.last_seen
        end = ConditionEnd.model_validate(
            {
                "condition": key[0],
                "condition_id": tracked.condition_id,
                "started": tracked.started,
                "duration_ms": max(0, ended_at - tracked.started),
                "reason": reason,
            }
        )
        return Ended(key[1], end, ended_at)

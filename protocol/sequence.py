"""Per-agent sequence admission: duplicates are refused, gaps are reported once.

Agents number events 1, 2, 3… without gaps, across restarts. QoS 1 and outbox replays deliver some
twice; an outage may deliver some late and out of order. ``SeqTracker`` remembers, per agent, the
highest contiguous ``seq`` and the few above it seen early, so it can tell a redelivery
(``ReplayError``) from a late arrival filling a gap, and report each new gap exactly once. It is
pure state: the hub persists ``next_expected`` per agent and restores it with ``restore``.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field

from protocol.errors import ReplayError

DEFAULT_MAX_AHEAD = 100_000


@dataclass(frozen=True)
class Gap:
    agent: Hashable
    """The stream the gap is in: an agent id, or whatever key the caller tracks by."""
    first: int
    last: int

    @property
    def size(self) -> int:
        return self.last - self.first + 1


@dataclass
class _AgentSeq:
    next_expected: int
    ahead: set[int] = field(default_factory=set)
    reported_to: int = 0  # highest seq already covered by a reported gap
    top: int = 0  # highest seq admitted
    deferred: bool = False
    """A sender that sends again until confirmed: a hole is reported only once it says it no
    longer holds what is missing (``advance``), not when a later seq shows it."""


class SeqTracker:
    def __init__(self, *, max_ahead: int = DEFAULT_MAX_AHEAD) -> None:
        self._agents: dict[Hashable, _AgentSeq] = {}
        self._max_ahead = max_ahead
        self._undo: dict[Hashable, _AgentSeq | None] | None = None

    # transactions: what a batch admits counts as seen only once the batch is committed ---------
    def begin(self) -> None:
        """Start remembering the state of each agent this batch touches, to undo it on failure."""
        self._undo = {}

    def commit(self) -> None:
        self._undo = None

    def rollback(self) -> None:
        """Forget everything admitted since ``begin`` (the batch was not stored)."""
        for agent, before in (self._undo or {}).items():
            if before is None:
                self._agents.pop(agent, None)
            else:
                self._agents[agent] = before
        self._undo = None

    def _remember(self, agent: Hashable) -> None:
        if self._undo is not None and agent not in self._undo:
            state = self._agents.get(agent)
            self._undo[agent] = (
                None
                if state is None
                else _AgentSeq(
                    state.next_expected, set(state.ahead), state.reported_to, state.top, state.deferred
                )
            )

    def restore(
        self, agent: Hashable, next_expected: int, highest: int | None = None, *, deferred: bool = False
    ) -> None:
        """Resume a stream: ``next_expected``, and the ``highest`` seq admitted. Above a hole, the
        seqs between were reported already when they were seen (not again); a ``deferred`` stream
        reports only through ``advance``, which leaves nothing reported above ``next_expected``."""
        self._remember(agent)
        top = max(next_expected - 1, highest or 0)
        reported = next_expected - 1 if deferred else top
        self._agents[agent] = _AgentSeq(next_expected, reported_to=reported, top=top, deferred=deferred)

    def next_expected(self, agent: Hashable) -> int | None:
        state = self._agents.get(agent)
        return state.next_expected if state else None

    def highest(self, agent: Hashable) -> int:
        """The highest seq admitted for ``agent`` (0 when none)."""
        state = self._agents.get(agent)
        return 0 if state is None else max(state.next_expected - 1, state.top)

    def contiguous(self, agent: Hashable) -> int:
        """The highest seq below which nothing is missing (0 when none): what a receipt may confirm."""
        state = self._agents.get(agent)
        return 0 if state is None else state.next_expected - 1

    def advance(self, agent: Hashable, floor: int) -> list[Gap]:
        """The sender says it no longer holds anything below ``floor``: what is missing there never
        comes. Moves past it; returns the missing runs below it not reported as gaps before."""
        state = self._agents.get(agent)
        if state is None or floor <= state.next_expected:
            return []
        self._remember(agent)
        gaps: list[Gap] = []
        start = max(state.next_expected, state.reported_to + 1)
        run: int | None = None
        for seq in range(start, floor):  # bounded: the sender's bounds, the tracker's max_ahead
            if seq in state.ahead:
                if run is not None:
                    gaps.append(Gap(agent, run, seq - 1))
                    run = None
            elif run is None:
                run = seq
        if run is not None:
            gaps.append(Gap(agent, run, floor - 1))
        state.reported_to = max(state.reported_to, floor - 1)
        state.next_expected = floor
        state.ahead = {seq for seq in state.ahead if seq >= floor}
        while state.next_expected in state.ahead:
            state.ahead.discard(state.next_expected)
            state.next_expected += 1
        state.top = max(state.top, state.next_expected - 1)
        return gaps

    def missing(self, agent: Hashable) -> int:
        """How many seqs below the highest seen have not arrived."""
        state = self._agents.get(agent)
        if state is None or not state.ahead:
            return 0
        return max(state.ahead) - state.next_expected + 1 - len(state.ahead)

    def admit(self, agent: Hashable, seq: int, *, deferred: bool = False) -> Gap | None:
        """Record ``seq``; raise ``ReplayError`` if seen before; return a newly opened gap (never
        for a ``deferred`` stream: see ``advance``). ``deferred`` applies at first contact."""
        self._remember(agent)
        state = self._agents.get(agent)
        if state is None:
            # First contact: numbering starts at 1, so a first seq above 1 means the earlier ones
            # were lost (a new agent's first batch, a new outbox's first events): a gap, not history.
            state = self._agents[agent] = _AgentSeq(next_expected=1, reported_to=0, deferred=deferred)
        if seq < state.next_expected or seq in state.ahead:
            raise ReplayError(f"{agent} seq {seq} already admitted")
        gap = None
        if seq == state.next_expected:
            state.next_expected += 1
            while state.next_expected in state.ahead:
                state.ahead.discard(state.next_expected)
                state.next_expected += 1
        else:
            state.ahead.add(seq)
            if not state.deferred and seq - 1 > state.reported_to:
                first = max(state.next_expected, state.reported_to + 1)
                gap = Gap(agent, first, seq - 1)
            if len(state.ahead) > self._max_ahead:
                # Give up on the oldest hole so memory stays bounded; it was reported already.
                state.next_expected = min(state.ahead)
                while state.next_expected in state.ahead:
                    state.ahead.discard(state.next_expected)
                    state.next_expected += 1
        if not state.deferred:
            state.reported_to = max(state.reported_to, seq)
        state.top = max(state.top, seq)
        return gap

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
                None if state is None else _AgentSeq(state.next_expected, set(state.ahead), state.reported_to)
            )

    def restore(self, agent: Hashable, next_expected: int) -> None:
        self._remember(agent)
        self._agents[agent] = _AgentSeq(next_expected=next_expected, reported_to=next_expected - 1)

    def next_expected(self, agent: Hashable) -> int | None:
        state = self._agents.get(agent)
        return state.next_expected if state else None

    def highest(self, agent: Hashable) -> int:
        """The highest seq admitted for ``agent`` (0 when none)."""
        state = self._agents.get(agent)
        if state is None:
            return 0
        return max(state.next_expected - 1, max(state.ahead) if state.ahead else 0)

    def missing(self, agent: Hashable) -> int:
        """How many seqs below the highest seen have not arrived."""
        state = self._agents.get(agent)
        if state is None or not state.ahead:
            return 0
        return max(state.ahead) - state.next_expected + 1 - len(state.ahead)

    def admit(self, agent: Hashable, seq: int) -> Gap | None:
        """Record ``seq``; raise ``ReplayError`` if seen before; return a newly opened gap."""
        self._remember(agent)
        state = self._agents.get(agent)
        if state is None:
            # First contact: numbering starts at 1, so a first seq above 1 means the earlier ones
            # were lost (a new agent's first batch, a new outbox's first events): a gap, not history.
            state = self._agents[agent] = _AgentSeq(next_expected=1, reported_to=0)
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
            if seq - 1 > state.reported_to:
                first = max(state.next_expected, state.reported_to + 1)
                gap = Gap(agent, first, seq - 1)
            if len(state.ahead) > self._max_ahead:
                # Give up on the oldest hole so memory stays bounded; it was reported already.
                state.next_expected = min(state.ahead)
                while state.next_expected in state.ahead:
                    state.ahead.discard(state.next_expected)
                    state.next_expected += 1
        state.reported_to = max(state.reported_to, seq)
        return gap

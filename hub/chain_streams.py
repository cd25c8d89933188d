"""Every sender's numbering, as the log holds it: a row deleted and the chain recomputed after it
still leaves a hole in someone's ``seq``.

Each agent numbers its events 1, 2, 3… per outbox (``epoch``), and the hub numbers its own records
the same way; the hub writes an ``ingest.gap`` record for every run of numbers it will never get
(shed by a full outbox, lost with a reset box). So below the point up to which the hub says a
stream is complete (``agent_streams.next_expected``), every number is either a stored row or inside
a gap record: a number that is neither was deleted from the log. Above that point a hole may be an
event still on its way (an agent re-sends until the hub confirms), so it is not counted. Rows may
arrive out of order; runs are kept as intervals, so memory stays small for a long log.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Any

Stream = tuple[str, str]


@dataclass
class _Runs:
    starts: list[int] = field(default_factory=list)
    ends: list[int] = field(default_factory=list)
    first_pos: list[int] = field(default_factory=list)

    def add(self, seq: int, pos: int) -> None:
        if self.ends and seq == self.ends[-1] + 1:  # the usual case: the next number
            self.ends[-1] = seq
            return
        at = bisect.bisect_left(self.starts, seq)
        joins_left = at > 0 and self.ends[at - 1] + 1 >= seq
        joins_right = at < len(self.starts) and self.starts[at] - 1 <= seq
        if joins_left and joins_right:
            self.ends[at - 1] = max(self.ends[at - 1], self.ends[at])
            del self.starts[at], self.ends[at], self.first_pos[at]
        elif joins_left:
            self.ends[at - 1] = max(self.ends[at - 1], seq)
        elif joins_right:
            self.starts[at] = seq
            self.first_pos[at] = min(self.first_pos[at], pos)
        else:
            self.starts.insert(at, seq)
            self.ends.insert(at, seq)
            self.first_pos.insert(at, pos)


@dataclass
class StreamCoverage:
    runs: dict[Stream, _Runs] = field(default_factory=dict)
    gaps: dict[Stream, list[tuple[int, int]]] = field(default_factory=dict)

    def row(self, agent: str, epoch: str, seq: int, pos: int, doc: dict[str, Any]) -> None:
        self.runs.setdefault((agent, epoch), _Runs()).add(seq, pos)
        if doc.get("kind") == "ingest.gap" and agent == "hub":
            found = doc.get("data")
            data: dict[str, Any] = found if isinstance(found, dict) else {}
            first, last = data.get("first"), data.get("last")
            if isinstance(first, int) and isinstance(last, int) and isinstance(data.get("agent"), str):
                stream = (data["agent"], str(data.get("epoch") or ""))
                self.gaps.setdefault(stream, []).append((first, last))

    def holes(self, complete_to: dict[Stream, int]) -> list[tuple[int, str]]:
        """(position after the hole, what is missing) for numbers neither stored nor announced lost,
        below the point each stream is complete to."""
        found = []
        for stream, runs in self.runs.items():
            limit = complete_to.get(stream, 0)
            for index in range(1, len(runs.starts)):
                first, last = runs.ends[index - 1] + 1, runs.starts[index] - 1
                if first > limit:
                    break
                missing = _uncovered(first, min(last, limit), self.gaps.get(stream, []))
                if missing is not None:
                    agent, epoch = stream
                    where = f"{agent}" + (f" (outbox {epoch})" if epoch else "")
                    found.append((runs.first_pos[index], (
                        f"{where} seq {missing} is missing from the log and no ingest.gap record "
                        "announces it lost (a row deleted and the chain recomputed?)"
                    )))  # fmt: skip
        return sorted(found)


def _uncovered(first: int, last: int, gaps: list[tuple[int, int]]) -> int | None:
    """The first number of ``first..last`` that no gap covers."""
    seq = first
    for start, end in sorted(gaps):
        if start > seq:
            break
        seq = max(seq, end + 1)
    return seq if seq <= last else None

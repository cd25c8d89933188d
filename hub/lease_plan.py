"""Which centres a hub worker should take, keep or hand back: pure, decided from one reading of the
lease table (``hub.lease_table``) and the workers seen alive, at the database's clock.

Each centre is owned by at most one worker, through a lease that expires ``lease_s`` after its last
renewal. A worker takes centres nobody holds (new, or their owner went silent) up to its fair
share, ``ceil(centres / live workers)``, so three workers starting one after another end with
10 + 10 + 10 of 30 rather than 30 + 0 + 0; a worker holding more than its fair share hands some
back per round, a few at a time (a worker that joins gets work without anyone dying). Taking is fenced in the
database (``UPDATE … WHERE expired``), so two workers deciding the same take cannot both win.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

RELEASE_PER_ROUND = 5
"""Centres a worker over its fair share hands back per round (a worker that joins gets work soon)."""


@dataclass(frozen=True, slots=True)
class Lease:
    centre: str
    owner: str
    expires_ms: int


@dataclass(frozen=True, slots=True)
class LeasePlan:
    take: tuple[str, ...]
    """Free or expired centres to try to take, in order."""
    release: tuple[str, ...]
    """Centres this worker holds beyond its fair share, to hand back now."""
    fair_share: int


def fair_share(centres: int, live_workers: int) -> int:
    return math.ceil(centres / max(live_workers, 1))


def plan_leases(
    me: str,
    centres: Iterable[str],
    leases: Mapping[str, Lease],
    live_workers: Iterable[str],
    now_ms: int,
) -> LeasePlan:
    """What ``me`` should do this round. ``leases``: by centre, as read; ``live_workers``: workers
    whose heartbeat is recent (``me`` counts whether listed or not)."""
    wanted = sorted(set(centres))
    workers = set(live_workers) | {me}
    share = fair_share(len(wanted), len(workers))
    mine = [
        c
        for c in wanted
        if (lease := leases.get(c)) is not None and lease.owner == me and lease.expires_ms > now_ms
    ]
    free = [c for c in wanted if (lease := leases.get(c)) is None or lease.expires_ms <= now_ms]
    free.sort(key=lambda c: zlib.crc32(f"{me}/{c}".encode()))  # workers reach for different ones first
    room = max(share - len(mine), 0)
    take = tuple(free[:room])  # tried in order; one another worker took first is skipped
    release: tuple[str, ...] = ()
    if not free and len(mine) > share:  # a few a round: each is a short hand-over, not all at once
        release = tuple(mine[-min(len(mine) - share, RELEASE_PER_ROUND) :])
    return LeasePlan(take, release, share)

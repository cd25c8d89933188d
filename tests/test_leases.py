"""Centre leases: the plan (pure) and the table on a real PostgreSQL, raced by two workers."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from hub.config import HubConfig
from hub.lease_plan import Lease, fair_share, plan_leases
from hub.lease_table import LeaseTable
from hub.worker import HubWorker
from protocol.signing import new_key
from tests.pg_helpers import fresh_database, sql

CENTRES = [f"c{n:02d}" for n in range(1, 31)]


def test_a_worker_takes_free_and_expired_centres_up_to_its_fair_share() -> None:
    leases = {
        "c01": Lease("c01", "w2", 2_000),  # live, another's
        "c02": Lease("c02", "w2", 500),  # expired: free
        "c03": Lease("c03", "w1", 2_000),  # mine
    }
    plan = plan_leases("w1", ["c01", "c02", "c03", "c04"], leases, ["w1", "w2"], now_ms=1_000)
    assert (plan.fair_share == 2 and plan.take == ("c02",)) or plan.take == ("c04",)
    assert len(plan.take) == 1 and plan.release == ()
    alone = plan_leases("w1", ["c01", "c02", "c03", "c04"], leases, [], now_ms=1_000)
    assert sorted(alone.take) == ["c02", "c04"]  # alone: share 4, but c01 is still w2's lease


def test_a_worker_over_its_share_hands_one_back_per_round() -> None:
    leases = {c: Lease(c, "w1", 10_000) for c in CENTRES}
    plan = plan_leases("w1", CENTRES, leases, ["w1", "w2", "w3"], now_ms=1_000)
    assert plan.fair_share == 10 and plan.take == () and len(plan.release) == 5  # not all 20 at once
    assert fair_share(30, 2) == 15 and fair_share(31, 3) == 11 and fair_share(5, 0) == 5


def simulate(workers: list[str], rounds: int, leases: dict[str, Lease], now: int) -> dict[str, Lease]:
    """Rounds of every worker in turn against an in-memory table with the database's take rule."""
    for _ in range(rounds):
        for me in workers:
            plan = plan_leases(me, CENTRES, leases, workers, now)
            for centre in plan.release:
                del leases[centre]
            for centre in plan.take:
                found = leases.get(centre)
                if found is None or found.expires_ms <= now or found.owner == me:
                    leases[centre] = Lease(centre, me, now + 15_000)
        now += 5_000
        for me in workers:  # renewals
            for centre, lease in list(leases.items()):
                if lease.owner == me:
                    leases[centre] = Lease(centre, me, now + 15_000)
    return leases


def owners(leases: dict[str, Lease]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for lease in leases.values():
        counts[lease.owner] = counts.get(lease.owner, 0) + 1
    return counts


def test_three_workers_share_thirty_centres_and_two_share_a_dead_ones() -> None:
    leases = simulate(["w1"], 1, {}, 0)
    assert owners(leases) == {"w1": 30}  # alone, it holds everything
    leases = simulate(["w1", "w2", "w3"], 12, leases, 10_000)  # two join: w1 hands back 5 a round
    assert owners(leases) == {"w1": 10, "w2": 10, "w3": 10}
    now = 200_000
    dead = {c: lease for c, lease in leases.items() if lease.owner != "w2"}
    dead |= {c: Lease(c, "w2", now - 1) for c, lease in leases.items() if lease.owner == "w2"}  # w2 died
    after = simulate(["w1", "w3"], 2, dead, now)
    assert owners(after) == {"w1": 15, "w3": 15} and set(after) == set(CENTRES)


# the table on PostgreSQL ------------------------------------------------------------------------
@pytest.fixture
def dsn() -> Iterator[str]:
    with fresh_database() as found:
        yield found


def test_racing_takes_have_one_winner_and_a_taken_lease_cannot_be_renewed(dsn: str) -> None:
    one, two = LeaseTable(dsn, lease_s=3), LeaseTable(dsn, lease_s=3)
    results: dict[str, list[bool]] = {"w1": [], "w2": []}
    gate = threading.Barrier(2)

    def race(table: LeaseTable, me: str) -> None:
        gate.wait()
        order = CENTRES if me == "w1" else CENTRES[::-1]  # they meet somewhere in the middle
        won = {c: table.take(c, me) for c in order}
        results[me] = [won[c] for c in CENTRES]

    threads = [threading.Thread(target=race, args=(t, w)) for t, w in ((one, "w1"), (two, "w2"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(a != b for a, b in zip(results["w1"], results["w2"], strict=True))  # exactly one each
    _now, leases, _live = one.read()
    assert len(leases) == 30
    mine = sorted(c for c, lease in leases.items() if lease.owner == "w1")
    assert not two.take(mine[0], "w2")  # live: refused
    sql(dsn, "UPDATE casewatch.leases SET expires_ms = 0 WHERE center = %s", mine[0])  # w1 went silent
    assert two.take(mine[0], "w2")
    assert one.renew("w1", mine) == set(mine[1:])  # the taken one is not w1's any more
    assert one.heartbeat("w1", "i1", 14) and not two.heartbeat("w1", "i2", 0)  # one process per name
    _now, _leases, live = two.read()
    assert live == ["w1"]
    one.leave("w1")
    _now, leases, live = two.read()
    assert all(lease.owner == "w2" for lease in leases.values()) and live == []
    one.close()
    two.close()


# the worker's rounds over the real table (centre hubs replaced by a record of starts and stops) --
class Recording(HubWorker):
    """A worker whose centres are recorded, not run: the rounds' decisions are what is tested."""

    def _start(self, centre: str, previous: Lease | None) -> None:
        self.running[centre] = SimpleNamespace(link=None)  # type: ignore[assignment]
        self.starts.append(centre)

    def _stop(self, centre: str, *, lost: bool = False) -> None:
        if self.running.pop(centre, "absent") != "absent":
            self.stops.append(centre)


def worker(cfg: HubConfig, name: str) -> Recording:
    made = Recording(cfg, Path("."), name, http_port=-1)
    made.starts, made.stops = [], []
    return made


def multi_centre(dsn: str) -> HubConfig:
    return HubConfig.model_validate({
        "center": "county", "signing": {"key": new_key()},
        "store": {"backend": "postgresql", "dsn": dsn, "files": "/tmp"},
        "mqtt": {"host": "127.0.0.1", "port": 1883}, "workers": {"lease_s": 30},
        "centers": [{"id": c} for c in CENTRES],
    })  # fmt: skip


def test_workers_share_out_without_churn_and_one_name_is_one_process(dsn: str) -> None:
    cfg = multi_centre(dsn)
    w1 = worker(cfg, "w1")
    w1.round()
    assert len(w1.running) == 30  # alone: everything
    w2, w3 = worker(cfg, "w2"), worker(cfg, "w3")
    for _ in range(8):
        for w in (w1, w2, w3):
            w.round()
    assert sorted(len(w.running) for w in (w1, w2, w3)) == [10, 10, 10]
    assert len(w1.starts) == 30 and len(w1.stops) == 20  # handed back once each, never taken back
    assert set(w1.stops).isdisjoint(w1.running) and len(w2.starts) + len(w3.starts) == 20
    twin = worker(cfg, "w2")  # a second live process under w2's name (a copied unit file)
    twin.round()
    assert twin.running == {} and twin.starts == []  # refused: it would think w2's leases its own
    w2.round()
    assert len(w2.running) == 10

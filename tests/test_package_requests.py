"""The hub's fetch requests for packages (hub/packages.py ``_publish``): at most 256 unanswered
ranges per agent, the oldest first, the next ones once those are answered; answered ranges whose
files have not all come are kept from retention without being asked again; an open alert's time
is kept, cut into spans of at most a day."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hub.agent_files import AgentFiles
from hub.alerts import Alert
from hub.core import Changes
from hub.package_plan import Wanted
from hub.package_state import Package
from hub.packages import PackageDesk
from hub.queries import Queries
from hub.state_store import DerivedStore
from hub.store import HubStore
from protocol.clock import ManualClock
from protocol.fetch import Keep, Range
from protocol.signing import Keyring
from protocol.topics import TopicLayout

T = 1_796_313_600_000
M = 60_000


def desk(
    tmp_path: Path, store: HubStore, sent: list[tuple[str, tuple[Range, ...], tuple[Keep, ...]]]
) -> PackageDesk:
    def publish(agent: str, ranges: tuple[Range, ...], keep: tuple[Keep, ...]) -> bool:
        sent.append((agent, ranges, keep))
        return True

    return PackageDesk(
        tmp_path / "packages", center="c1", queries=Queries(store),
        agent_files=AgentFiles(tmp_path / "files", Keyring({}), TopicLayout()), publish=publish,
        record=lambda *_: None, hub_key=b"k" * 32, clock=ManualClock(T + 3000 * M), wait_s=60, rooms={},
        alert_view=lambda a: {}, head=lambda: (0, ""), evidence=tmp_path / "evidence",
    )  # fmt: skip


def test_ranges_are_asked_256_at_a_time_oldest_first_and_answered_ones_are_kept(tmp_path: Path) -> None:
    store = HubStore(tmp_path / "hub.db")
    sent: list[Any] = []
    d = desk(tmp_path, store, sent)
    wanted = [Wanted(f"pkg-{n}", "box-1", "cam-a", "int-1", 0, T + n * 10 * M, T + (n + 1) * 10 * M)
              for n in range(300)]  # fmt: skip
    d._packages["pkg"] = Package("pkg", "p1", "release", "hub", T, status="waiting", wanted=wanted,
                                 deadline=T + 10**9)  # fmt: skip
    d._publish({"box-1"})
    (_agent, asked, keep) = sent[-1]
    assert [r.id for r in asked] == [f"pkg-{n}" for n in range(256)] and keep == ()
    for n in range(256):  # answered; each lists a segment that has not come yet
        d._packages["pkg"].listed[f"pkg-{n}"] = [{"name": "1.mp4", "sha256": "0" * 64}]
    d._publish({"box-1"})
    (_agent, asked, keep) = sent[-1]
    assert [r.id for r in asked] == [f"pkg-{n}" for n in range(256, 300)]
    # the answered ranges' time is kept from retention while their files come: one day at most a span
    assert keep[0].start == T and all(k.end - k.start <= 86_400_000 for k in keep)
    assert sum(k.end - k.start for k in keep) == 256 * 10 * M and len(keep) == 2
    store.close()


def test_an_open_alerts_time_is_kept_on_the_cameras_of_its_room(tmp_path: Path) -> None:
    store = HubStore(tmp_path / "hub.db")
    DerivedStore(store).save(Changes(projections=[
        ("camera", "cam-a", {"id": "cam-a", "state": "online", "agent": "box-1", "room": "int-1"}),
        ("camera", "cam-b", {"id": "cam-b", "state": "online", "agent": "box-2", "room": "wait-1"}),
    ], alerts=[
        Alert(id="x1", rule="R", key=["k"], level="orange", state="open", opened_ms=T + 1000 * M,
              updated_ms=T, context={"room": "int-1"}),
        Alert(id="x2", rule="R", key=["j"], level="orange", state="open", opened_ms=T + 2990 * M,
              updated_ms=T, context={"room": "int-1"}),
    ]))  # fmt: skip
    sent: list[Any] = []
    desk(tmp_path, store, sent)._publish({"*"})
    by_agent = {agent: keep for agent, _asked, keep in sent}
    assert by_agent["box-2"] == ()  # no alert in its room: nothing kept (and told so)
    keep = by_agent["box-1"]
    # one alert open for 33 h keeps its first day (from 5 min before it opened); the other, open
    # 10 min, keeps 5 min before it to 5 min after now
    assert [(k.camera, k.start - T, k.end - T) for k in keep] == [
        ("cam-a", 995 * M, 2435 * M), ("cam-a", 2985 * M, 3005 * M)
    ]  # fmt: skip
    store.close()

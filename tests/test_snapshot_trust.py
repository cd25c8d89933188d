"""Camera pictures the hub shows and keeps as alert evidence come only from the camera's own,
configured agent, signed (issue 16 finding 2: ``…/box-99/snapshots/cam-int-1`` became an alert's
picture)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hub.web.snapshots import SnapshotCache
from protocol.errors import ProtocolError
from protocol.signing import Keyring
from protocol.topics import SnapshotTopic
from tests.api_helpers import ApiHub, api_hub, intake, now_ms
from tests.hub_helpers import AgentFeed
from tests.mqtt_helpers import Collector
from tests.waiting import wait_until

JPEG = b"\xff\xd8\xff\xe0" + b"the-real-room" + b"\xff\xd9"
FORGED = b"\xff\xd8\xff\xe0" + b"a-picture-of-an-empty-room" + b"\xff\xd9"


def topic(agent: str, camera: str) -> SnapshotTopic:
    return SnapshotTopic("c1", agent, camera)


@pytest.fixture
def feeds() -> tuple[AgentFeed, AgentFeed]:
    return AgentFeed(), AgentFeed(agent="box-02")


def test_only_signed_pictures_of_configured_agents_are_kept(feeds: tuple[AgentFeed, AgentFeed]) -> None:
    mine, other = feeds
    cache = SnapshotCache(Keyring({"box-01": mine.key, "box-02": other.key}), center="c1")
    _t, signed = mine.snapshot("cam-int-1", JPEG, ts=1_000)
    assert cache.receive(topic("box-01", "cam-int-1"), signed, 2_000) == "cam-int-1"
    with pytest.raises(ProtocolError, match=r"no header line|not JSON"):  # a bare JPEG
        cache.receive(topic("box-01", "cam-int-1"), FORGED, 2_000)
    stranger = AgentFeed(agent="box-99")
    _t, theirs = stranger.snapshot("cam-int-1", FORGED, ts=1_500)
    with pytest.raises(ProtocolError, match="unknown agent"):
        cache.receive(topic("box-99", "cam-int-1"), theirs, 2_000)
    _t, borrowed = mine.snapshot("cam-int-1", FORGED, ts=1_500)  # box-01's bytes on box-02's topic
    with pytest.raises(ProtocolError, match="claims"):
        cache.receive(topic("box-02", "cam-int-1"), borrowed, 2_000)
    _t, other_camera = mine.snapshot("cam-int-2", FORGED, ts=1_500)
    with pytest.raises(ProtocolError, match="names"):
        cache.receive(topic("box-01", "cam-int-1"), other_camera, 2_000)
    _t, old = mine.snapshot("cam-int-1", FORGED, ts=500)  # replayed: older than the one kept
    assert cache.receive(topic("box-01", "cam-int-1"), old, 2_000) is None
    found = cache.get("cam-int-1", "box-01")
    assert found is not None and found.jpeg == JPEG and found.ts == 1_000
    assert cache.counters["refused"] == 4 and cache.counters["stale"] == 1


def test_another_configured_agents_picture_of_my_camera_is_never_shown(
    feeds: tuple[AgentFeed, AgentFeed],
) -> None:
    mine, other = feeds
    cache = SnapshotCache(Keyring({"box-01": mine.key, "box-02": other.key}), center="c1")
    cache.receive(topic("box-02", "cam-int-1"), other.snapshot("cam-int-1", FORGED, ts=9_000)[1], 9_000)
    found = cache.get("cam-int-1")  # nobody owns it yet: the only picture
    assert found is not None and found.agent == "box-02"
    cache.receive(topic("box-01", "cam-int-1"), mine.snapshot("cam-int-1", JPEG, ts=1_000)[1], 9_000)
    assert cache.get("cam-int-1") is None  # two agents claim it, no owner known: neither
    owned = cache.get("cam-int-1", "box-01")  # box-01's signed health events name the camera
    assert owned is not None and owned.jpeg == JPEG
    assert cache.received({"cam-int-1": "box-01"}) == {"cam-int-1": 1_000}


@pytest.fixture
def hub(tmp_path: Path, mqtt_broker: Any) -> Iterator[ApiHub]:
    with api_hub(tmp_path, mqtt_broker) as running:
        yield running


def test_a_forged_picture_never_becomes_an_alerts_evidence(hub: ApiHub, mqtt_broker: Any) -> None:
    op, viewer = hub.client("operator"), hub.client("viewer")
    intake(hub, "p1")
    assert op.post("/api/v1/bands/B0042/bind", json={"role": "detainee", "person": "p1"}).status_code == 201
    feed, t = hub.feed, now_ms()
    publisher = Collector(mqtt_broker.host, mqtt_broker.port)
    forged_topics = ["casewatch/c1/box-99/snapshots/cam-forge", "casewatch/c1/box-01/snapshots/cam-forge"]
    stranger = AgentFeed(agent="box-99")
    publisher.publish(*stranger.snapshot("cam-forge", FORGED), qos=0, retain=True)  # unknown agent
    publisher.publish(forged_topics[1], FORGED, qos=0, retain=True)  # unsigned, on the real agent's topic
    try:
        health = {"state": "online", "since": t}
        occupancy = {"count": 1, "since": t}
        for event in (
            feed.event("camera.health", t, {"camera": "cam-forge", "room": "int-1"}, health),
            feed.event("occupancy", t, {"room": "int-1", "camera": "cam-forge", "zone": "all"}, occupancy),
            feed.event("band.position", t + 1, {"band": "B0042"}, {"zone": "z", "room": "int-1"},
                       source="rx-1"),
        ):  # fmt: skip
            publisher.publish(*feed.message(event))
        assert wait_until(lambda: viewer.get("/api/v1/status").json()["snapshots"].get("refused", 0) >= 2, 10)
        tamper = feed.event(
            "band.tamper", t + 2, {"band": "B0042"}, {"strap_open": True, "magnet": False}, source="rx-1"
        )
        publisher.publish(*feed.message(tamper))
        assert wait_until(lambda: viewer.get("/api/v1/alerts", params={"rule": "WB-TAMPER"}).json(), 10)
        (alert,) = viewer.get("/api/v1/alerts", params={"rule": "WB-TAMPER"}).json()
        assert viewer.get(f"/api/v1/alerts/{alert['id']}").json()["pictures"] == []
        assert viewer.get("/api/v1/cameras/cam-forge/snapshot").status_code == 404
    finally:  # the broker is shared: leave no retained picture behind
        for name in forged_topics:
            publisher.publish(name, b"", qos=0, retain=True)
        publisher.close()


def test_a_camera_stays_with_the_first_agent_that_reported_it() -> None:
    """The review's case: box-02 sends a signed camera.health naming box-01's camera, then its own
    picture of it; the camera's owner, state and picture stay box-01's."""
    from hub.projections import Projections

    def health(agent: str, state: str, ts: int) -> dict[str, object]:
        return {"agent": agent, "kind": "camera.health", "ts": ts, "subject": {"camera": "cam-int-1"},
                "data": {"state": state, "since": ts}}  # fmt: skip

    projections = Projections(center="c1")
    projections.apply(health("box-01", "online", 1_000))
    projections.apply(health("box-02", "offline", 2_000))
    camera = projections.cameras["cam-int-1"]
    assert (camera["agent"], camera["state"], camera["contested_by"]) == ("box-01", "online", "box-02")


def test_clears_are_ignored_old_pictures_refused_and_each_agent_bounded(
    feeds: tuple[AgentFeed, AgentFeed],
) -> None:
    from hub.web import snapshots

    mine, other = feeds
    cache = SnapshotCache(Keyring({"box-01": mine.key, "box-02": other.key}), center="c1")
    now = 10_000_000
    cache.receive(topic("box-01", "cam-int-1"), mine.snapshot("cam-int-1", JPEG, ts=now)[1], now)
    assert cache.receive(topic("box-01", "cam-int-1"), b"", now) is None  # nobody signs a clear
    assert cache.get("cam-int-1", "box-01") is not None and cache.counters["clears_ignored"] == 1
    with pytest.raises(ProtocolError, match="ten minutes"):
        old = mine.snapshot("cam-int-2", JPEG, ts=now - 700_000)[1]
        cache.receive(topic("box-01", "cam-int-2"), old, now)
    for n in range(snapshots.MAX_PER_AGENT + 5):  # box-02 tries to fill the cache
        camera = f"cam-x{n}"
        cache.receive(topic("box-02", camera), other.snapshot(camera, FORGED, ts=now)[1], now)
    assert cache.counters["full"] == 5
    _t, fresh = mine.snapshot("cam-int-3", JPEG, ts=now)
    assert cache.receive(topic("box-01", "cam-int-3"), fresh, now) == "cam-int-3"  # box-01 still fits

"""What a viewer's wall may claim and ask for, after the independent review of issue 20: patrol
rounds are checked (known cameras, plausible times, one a minute), watches are few, and an agent
watches as long as the hub meant whatever its clock says."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from agent.snapshots import SnapshotSender
from hub.watching import MAX_PER_AGENT, Watches
from protocol.clock import ManualClock
from protocol.watch import WatchRequest
from tests.api_helpers import ApiHub, api_hub, now_ms
from tests.mqtt_helpers import Collector
from tests.waiting import wait_until


@pytest.fixture
def hub(tmp_path: Path, mqtt_broker: Any) -> Iterator[ApiHub]:
    with api_hub(tmp_path, mqtt_broker, reports={"scheduled": False, "patrol_views_per_day": 1}) as running:
        yield running


def test_patrol_rounds_are_checked_not_believed(hub: ApiHub, mqtt_broker: Any) -> None:
    t = now_ms()
    publisher = Collector(mqtt_broker.host, mqtt_broker.port)
    for camera in ("cam-a", "cam-b"):
        health = hub.feed.event(
            "camera.health", t, {"camera": camera, "room": "int-1"}, {"state": "online", "since": t}
        )
        publisher.publish(*hub.feed.message(health))
    publisher.close()
    viewer = hub.client("viewer")
    assert wait_until(lambda: len(viewer.get("/api/v1/cameras").json()) == 2, 10)
    fake = viewer.post(
        "/api/v1/patrol/rounds", json={"started": t, "seconds": 60, "cameras": ["cam-a", "cam-zz"]}
    )
    assert fake.status_code == 422 and "cam-zz" in fake.json()["detail"]  # a camera nobody has
    instant = viewer.post("/api/v1/patrol/rounds", json={"started": 0, "seconds": 0, "cameras": ["cam-a"]})
    assert instant.status_code == 422
    real = {"started": t - 30_000, "seconds": 30, "cameras": ["cam-a", "cam-b"], "screen": "w1"}
    assert viewer.post("/api/v1/patrol/rounds", json=real).status_code == 201
    assert viewer.post("/api/v1/patrol/rounds", json=real).status_code == 429  # one a minute per screen
    patrol = viewer.get("/api/v1/reports/daily").json()["patrol"]
    assert (patrol["rounds"], patrol["cameras"], patrol["covered"]) == (1, 2, 2)


def test_an_agent_is_asked_to_watch_a_few_cameras_at_most() -> None:
    watches = Watches()
    for n in range(MAX_PER_AGENT + 3):
        request = watches.add("box-01", f"cam-{n}", 1_000 + n)
    assert request is not None and len(request) == MAX_PER_AGENT
    assert sorted(request) == [f"cam-{n}" for n in range(3, MAX_PER_AGENT + 3)]  # the oldest gave way


@pytest.mark.parametrize("skew_s", [-3600, -60, 0, 15])
def test_a_watch_lasts_what_the_hub_meant_whatever_the_agents_clock(skew_s: int) -> None:
    hub_now = 1_767_250_000_000
    clock = ManualClock(hub_now + skew_s * 1000)  # the agent's clock, off by skew_s
    sender = SnapshotSender(
        center="c1", agent="box-01", cameras=["cam-1"], key=b"k" * 32, clock=clock,
        frame=lambda _camera: np.zeros((4, 4, 3), np.uint8), publish=lambda _t, _p: None,
        topic=lambda camera: camera, connected=lambda: True,
    )  # fmt: skip
    sender.watch(WatchRequest("c1", "box-01", {"cam-1": hub_now + 1_000}, hub_now))
    assert sender.watched() == ["cam-1"]
    time.sleep(1.1)
    assert sender.watched() == []  # 1 s as meant, on the agent's own monotonic clock
    sender.watch(WatchRequest("c1", "box-01", {"cam-1": hub_now + 60_000}, hub_now - 5))
    assert sender.watched() == []  # an older request (a retained one replayed) changes nothing


def test_hostile_watch_requests_are_refused() -> None:
    from protocol.errors import ProtocolError
    from protocol.registry import registry_keyring
    from protocol.signing import new_key
    from protocol.watch import decode_watch, encode_watch

    hub_key = new_key().encode()
    keys = registry_keyring(hub_key)
    good = encode_watch(WatchRequest("c1", "box-01", {"cam-1": 5_000}, 1_000), hub_key)
    assert decode_watch(good, keys, center="c1", agent="box-01").cameras == {"cam-1": 5_000}
    far = encode_watch(WatchRequest("c1", "box-01", {"cam-1": 10**12}, 1_000), hub_key)
    assert decode_watch(far, keys, center="c1", agent="box-01").cameras == {"cam-1": 61_000}  # ≤ 60 s
    forged = encode_watch(WatchRequest("c1", "box-01", {"cam-1": 5_000}, 1_000), new_key().encode())
    many = encode_watch(WatchRequest("c1", "box-01", {f"cam-{n}": 5_000 for n in range(65)}, 1_000), hub_key)
    bad_key = encode_watch(WatchRequest("c1", "box-01", {"../etc": 5_000}, 1_000), hub_key)
    for raw, agent in ((forged, "box-01"), (good, "box-02"), (many, "box-01"), (bad_key, "box-01"),
                       (b"\xff{", "box-01"), (b"[1]", "box-01")):  # fmt: skip
        with pytest.raises(ProtocolError):
            decode_watch(raw, keys, center="c1", agent=agent)

"""Belongings lockers (issue 21): the ledger of what went into which locker and what came back,
the stored items' picture kept with the exact bytes hashed into the record, a release refused
while a locker still holds items — and, confirmed, the forgotten-belongings alert naming them."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hub.belongings import ledger, still_held
from tests.api_helpers import ApiHub, api_hub, intake, now_ms
from tests.mqtt_helpers import Collector
from tests.waiting import wait_until


def rec(kind: str, type_: str, ts: int, **data: Any) -> dict[str, Any]:
    return {"kind": kind, "ts": ts, "source": "op", "data": {"type": type_, **data}}


def test_the_ledger_takes_returns_item_by_item_and_an_empty_return_empties_the_locker() -> None:
    entries = ledger([
        rec("record", "safety_check", 1),
        rec("record", "belongings_stored", 2, locker="L-1", items=["手机", "钥匙", "钱包"]),
        rec("record", "belongings_stored", 3, locker="L-2", items=["腰带"]),
        rec("record", "belongings_stored", 4),  # no locker, nothing listed: still something held
        rec("record", "belongings_returned", 5, locker="L-1", items=["钥匙"]),
        rec("record", "belongings_returned", 6, locker="L-2"),  # emptied
        rec("approval", "belongings_stored", 7),  # not a record
    ])  # fmt: skip
    assert [e["ts"] for e in entries] == [2, 3, 4, 5, 6]
    assert still_held(entries) == [{"locker": None, "items": ["（未列明）"]},
                                   {"locker": "L-1", "items": ["手机", "钱包"]}]  # fmt: skip
    handed_back = [{"type": "belongings_returned", "locker": "L-1", "items": ["手机", "钱包"]},
                   {"type": "belongings_returned", "locker": None}]  # fmt: skip
    assert still_held([*entries, *handed_back]) == []


@pytest.fixture
def hub(tmp_path: Path, mqtt_broker: Any) -> Iterator[ApiHub]:
    with api_hub(tmp_path, mqtt_broker, reports={"scheduled": False}) as running:
        yield running


def test_a_release_with_items_left_is_refused_then_confirmed_and_alerted(
    hub: ApiHub, mqtt_broker: Any
) -> None:
    operator = hub.client("operator")
    jpeg = b"\xff\xd8\xff\xe0" + b"locker-camera-frame" + b"\xff\xd9"
    publisher = Collector(mqtt_broker.host, mqtt_broker.port)
    try:
        publisher.publish(*hub.feed.snapshot("cam-intake", jpeg), qos=0, retain=True)
        intake(hub, "p1")
        assert wait_until(lambda: any(c["id"] == "cam-intake" and c["has_snapshot"]
                                      for c in operator.get("/api/v1/cameras").json()), 10)  # fmt: skip
        path = "/api/v1/persons/p1/records"
        stored = {
            "type": "belongings_stored",
            "locker": "L-07",
            "items": ["手机", "钥匙"],
            "camera": "cam-intake",
        }
        assert operator.post(path, json=stored).status_code == 201
        bad = [
            ({"type": "meal", "items": ["饭"]}, 422),  # items belong to belongings
            ({"type": "meal", "camera": "cam-intake"}, 422),
            ({"type": "belongings_stored", "items": ["x" * 61]}, 422),
            ({"type": "belongings_stored", "items": ["a"] * 31}, 422),
            ({"type": "belongings_stored", "locker": "../etc"}, 422),
            ({"type": "belongings_stored", "items": ["a"], "camera": "cam-none"}, 409),  # no picture
            ({"type": "belongings_stored", "picture": {"camera": "c", "ts": 1, "sha256": "0" * 64}}, 422),
        ]
        for body, status in bad:
            assert operator.post(path, json=body).status_code == status, body
        assert (
            operator.post(
                path, json={"type": "belongings_returned", "locker": "L-07", "items": ["钥匙"]}
            ).status_code
            == 201
        )
        (logged,) = [e["event"] for e in operator.get("/api/v1/events", params={"kind": "record"}).json()
                     if e["event"]["data"].get("picture")]  # fmt: skip
        picture = logged["data"]["picture"]
        assert picture["camera"] == "cam-intake" and picture["sha256"] == hashlib.sha256(jpeg).hexdigest()
        kept = hub.service.evidence.folder / "belongings-p1" / f"cam-intake-{picture['ts']}.jpg"
        assert kept.read_bytes() == jpeg
        refused = operator.post("/api/v1/persons/p1/release", json={})
        assert refused.status_code == 409 and "L-07" in refused.text and "手机" in refused.text, refused.text
        assert (
            operator.post("/api/v1/persons/p1/release", json={"confirm_belongings_left": True}).status_code
            == 201
        )

        def forgotten() -> list[dict[str, Any]]:
            return list(operator.get("/api/v1/alerts", params={"rule": "BELONGINGS-FORGOTTEN"}).json())

        assert wait_until(forgotten, 10)
        (alert,) = forgotten()
        assert alert["level"] == "yellow" and alert["context"]["person"] == "p1"
        assert alert["context"]["note"] == "L-07: 手机", alert["context"]
        person = operator.get("/api/v1/persons/p1").json()
        assert person["release"]["belongings_left"] == [{"locker": "L-07", "items": ["手机"]}]
        steps = operator.get("/api/v1/persons/p1/timeline").json()["steps"]
        assert any(s["type"] == "belongings_stored" and "L-07 手机、钥匙" in s["note"] for s in steps), steps
        # the phone handed back after the release is still recorded
        back = {"type": "belongings_returned", "locker": "L-07", "items": ["手机"]}
        assert operator.post(path, json=back).status_code == 201
        assert operator.post(path, json={"type": "meal"}).status_code == 409  # care ends with the release
        # a release with nothing left raises nothing
        intake(hub, "p2")
        assert operator.post("/api/v1/persons/p2/release", json={}).status_code == 201
        assert [a["context"]["person"] for a in forgotten()] == ["p1"]
        # many items in one locker (two stores of 20): the release names them all
        intake(hub, "p3")
        for n in range(2):
            items = [f"物品{n}-{i}" for i in range(20)]
            body = {"type": "belongings_stored", "locker": "L-09", "items": items}
            assert operator.post("/api/v1/persons/p3/records", json=body).status_code == 201
        done = operator.post("/api/v1/persons/p3/release", json={"confirm_belongings_left": True})
        assert done.status_code == 201, done.text
        left = operator.get("/api/v1/persons/p3").json()["release"]["belongings_left"]
        assert [(x["locker"], len(x["items"])) for x in left] == [("L-09", 40)]
        # a picture of two minutes ago is not the picture of the items stored now
        publisher.publish(*hub.feed.snapshot("cam-old", jpeg, ts=now_ms() - 120_000), qos=0, retain=True)
        assert wait_until(lambda: any(c["id"] == "cam-old" and c["has_snapshot"]
                                      for c in operator.get("/api/v1/cameras").json()), 10)  # fmt: skip
        intake(hub, "p4")
        stale = {"type": "belongings_stored", "items": ["包"], "camera": "cam-old"}
        assert operator.post("/api/v1/persons/p4/records", json=stale).status_code == 409
    finally:
        publisher.publish("casewatch/c1/box-01/snapshots/cam-intake", b"", qos=0, retain=True)
        publisher.publish("casewatch/c1/box-01/snapshots/cam-old", b"", qos=0, retain=True)
        publisher.close()

"""What the hub's HTTP API shows the console (real hub, broker, SQLite, uvicorn): rooms, cameras,
custody timers, snapshots, a person's timeline, reports, dossiers and cabinets."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from protocol.ids import uuid7
from protocol.signing import Keyring
from tests.api_helpers import ApiHub, api_hub, intake, now_ms, officer
from tests.hub_helpers import AgentFeed
from tests.mqtt_helpers import Collector
from tests.waiting import wait_until


@pytest.fixture
def hub(tmp_path: Path, mqtt_broker: Any) -> Iterator[ApiHub]:
    with api_hub(tmp_path, mqtt_broker) as running:
        yield running


def test_rooms_cameras_and_devices_show_what_the_agents_last_said(hub: ApiHub, mqtt_broker: Any) -> None:
    op, viewer = hub.client("operator"), hub.client("viewer")
    intake(hub, "p1")
    assert op.post("/api/v1/bands/B0042/bind", json={"role": "detainee", "person": "p1"}).status_code == 201
    feed, t = hub.feed, now_ms()
    condition = {
        "condition": "understaffed",
        "condition_id": uuid7(t),
        "facts": {"persons": 3, "detainees": 1, "officers": 1, "required_officers": 2},
    }
    events = [
        feed.event(
            "occupancy", t, {"room": "int-1", "camera": "cam-a", "zone": "desk"}, {"count": 2, "since": t}
        ),
        feed.event(
            "occupancy", t + 1, {"room": "int-1", "camera": "cam-a", "zone": "seat"}, {"count": 1, "since": t}
        ),
        feed.event(
            "occupancy", t + 2, {"room": "int-1", "camera": "cam-b", "zone": "all"}, {"count": 2, "since": t}
        ),
        feed.event(
            "band.position", t + 3, {"band": "B0042"}, {"zone": "int-1-z", "room": "int-1"}, source="rx-1"
        ),
        feed.event("condition.start", t + 4, {"room": "int-1"}, condition),
        feed.event(
            "camera.health",
            t + 5,
            {"camera": "cam-b"},
            {"state": "covered", "since": t + 5, "detail": "dark"},
        ),
        feed.event(
            "device.health",
            t + 6,
            {"device": "wb-rx-1"},
            {"state": "offline", "driver": "rs485", "detail": "port gone"},
        ),
        feed.event(
            "band.tamper", t + 7, {"band": "B0042"}, {"strap_open": True, "magnet": False}, source="rx-1"
        ),
    ]
    publisher = Collector(mqtt_broker.host, mqtt_broker.port)
    for event in events:
        publisher.publish(*feed.message(event))

    def room() -> dict[str, Any]:
        return next(r for r in viewer.get("/api/v1/rooms").json() if r["id"] == "int-1")

    assert wait_until(lambda: room()["worst_level"] == "red", timeout_s=10), room()
    state = room()
    assert state["name"] == "讯问室1" and state["type"] == "interrogation"
    assert state["persons"] == 3  # the fuller of the two cameras' views (2 + 1), not their sum
    assert state["detainees"] == ["p1"] and state["conditions"] == ["understaffed"]
    empty = next(r for r in viewer.get("/api/v1/rooms").json() if r["id"] == "wait-1")
    assert empty["persons"] == 0 and empty["worst_level"] is None and empty["detainees"] == []
    (camera,) = viewer.get("/api/v1/cameras").json()
    assert camera["id"] == "cam-b" and camera["state"] == "covered" and camera["detail"] == "dark"
    (device,) = viewer.get("/api/v1/devices").json()
    assert device["state"] == "offline" and device["detail"] == "port gone"
    end = {
        "condition": "understaffed",
        "condition_id": condition["condition_id"],
        "started": t + 4,
        "duration_ms": 5,
    }
    publisher.publish(*feed.message(feed.event("condition.end", t + 9, {"room": "int-1"}, end)))
    assert wait_until(lambda: room()["conditions"] == [], timeout_s=10)


def test_custody_timers_and_camera_snapshots_for_the_console(hub: ApiHub, mqtt_broker: Any) -> None:
    arrived = now_ms() - 9 * 3_600_000  # nine hours ago: DUR-CRIM is blue (8 h of 12 h)
    intake(hub, "p1", arrived=arrived, procedure="summons")
    viewer = hub.client("viewer")

    def timers() -> list[dict[str, Any]]:
        (person,) = viewer.get("/api/v1/persons").json()
        return list(person["timers"])

    assert wait_until(lambda: any(t["level"] == "blue" for t in timers()), timeout_s=10), timers()
    (dur,) = [t for t in timers() if t["rule"] == "DUR-CRIM"]
    assert dur["started"] == arrived and dur["limit_ms"] == 12 * 3_600_000
    assert dur["due_ms"] == arrived + 10 * 3_600_000  # next: yellow at 10 h
    assert {t["rule"] for t in timers()} <= {"DUR-CRIM", "DUR-ADMIN", "DUR-PANWEN", "DUR-PANWEN-SPECIAL"}

    jpeg = b"\xff\xd8\xff\xe0" + b"casewatch-test-frame" + b"\xff\xd9"
    publisher = Collector(mqtt_broker.host, mqtt_broker.port)
    publisher.publish(*hub.feed.snapshot("cam-snap", jpeg), qos=0, retain=True)
    assert wait_until(
        lambda: any(
            c["id"] == "cam-snap" and c["has_snapshot"] for c in viewer.get("/api/v1/cameras").json()
        ),
        timeout_s=10,
    )
    reply = viewer.get("/api/v1/cameras/cam-snap/snapshot")
    assert (
        reply.status_code == 200 and reply.headers["content-type"] == "image/jpeg" and reply.content == jpeg
    )
    assert viewer.get("/api/v1/cameras/nope/snapshot").status_code == 404
    logged = [e["event"]["kind"] for e in viewer.get("/api/v1/events").json()]
    assert [k for k in logged if k != "user.session"] == ["person.intake"]  # the JPEG is not an event
    Collector(mqtt_broker.host, mqtt_broker.port).publish(
        "casewatch/c1/box-01/snapshots/cam-snap", b"", retain=True
    )


def test_a_persons_timeline_has_every_step_each_room_and_who_was_there(hub: ApiHub, mqtt_broker: Any) -> None:
    op, sup, viewer = hub.client("operator"), hub.client("supervisor"), hub.client("viewer")
    assert sup.put("/api/v1/officers/o1", json=officer("王警官", "unit-a")).status_code == 201
    assert sup.put("/api/v1/officers/o2", json=officer("李警官", "unit-a")).status_code == 201
    t = now_ms() - 3_600_000
    intake(hub, "p1", arrived=t)
    bind = {"role": "detainee", "person": "p1", "at": t + 30_000}
    assert op.post("/api/v1/bands/B0042/bind", json=bind).status_code == 201
    assert (
        op.post("/api/v1/bands/B0007/bind", json={"role": "officer", "officer": "o1", "at": t}).status_code
        == 201
    )
    assert (
        op.post("/api/v1/bands/B0008/bind", json={"role": "officer", "officer": "o2", "at": t}).status_code
        == 201
    )
    record = {"type": "safety_check", "note": "无违禁品", "at": t + 60_000}
    assert op.post("/api/v1/persons/p1/records", json=record).status_code == 201
    feed, minute = hub.feed, 60_000

    def seen(band: str, at: int, room: str | None) -> tuple[str, bytes]:
        return feed.message(
            feed.event(
                "band.position",
                at,
                {"band": band},
                {"zone": f"{room}-z" if room else None, "room": room},
                "rx-1",
            )
        )

    publisher = Collector(mqtt_broker.host, mqtt_broker.port)
    for message in (
        seen("B0042", t + 2 * minute, "wait-1"),
        seen("B0007", t + 3 * minute, "int-1"),  # o1 waits in the interrogation room
        seen("B0042", t + 10 * minute, "int-1"),  # the detainee is brought in
        seen("B0008", t + 50 * minute, "int-1"),  # o2 joins late
        seen("B0042", t + 40 * minute, "wait-1"),  # a late event: still sorted into place
        seen("B0007", t + 45 * minute, "corridor"),
    ):
        publisher.publish(*message)
    assert wait_until(
        lambda: len(viewer.get("/api/v1/persons/p1/timeline").json()["steps"]) >= 7, timeout_s=10
    )
    assert (
        op.post("/api/v1/persons/p1/release", json={"reason": "传唤结束", "at": t + 55 * minute}).status_code
        == 201
    )
    doc = viewer.get("/api/v1/persons/p1/timeline").json()
    steps = doc["steps"]
    kinds = [s["type"] for s in steps]
    assert kinds[0] == "arrival" and kinds[-1] == "release"
    assert kinds.index("band_bind") < kinds.index("safety_check") < kinds.index("room")
    rooms = [
        (s["room_name"], s["entered"] if "entered" in s else s["ts"], s["left"], s["staff"])
        for s in steps
        if s["type"] == "room"
    ]
    assert rooms == [
        ("候问室1", t + 2 * minute, t + 10 * minute, []),
        ("讯问室1", t + 10 * minute, t + 40 * minute, ["王警官"]),  # o2 came after the detainee left
        ("候问室1", t + 40 * minute, t + 55 * minute, []),  # until the release
    ]
    (check,) = [s for s in steps if s["type"] == "safety_check"]
    assert check["by"] == "operator" and check["note"] == "无违禁品" and check["ts"] == t + minute
    assert doc["bands"] == ["B0042"]


def shanghai_midnight(day: str) -> int:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    return int(datetime.fromisoformat(day).replace(tzinfo=ZoneInfo("Asia/Shanghai")).timestamp() * 1000)


def test_reports_on_demand_in_every_format(hub: ApiHub) -> None:
    viewer = hub.client("viewer")
    doc = viewer.get("/api/v1/reports/daily").json()
    assert doc["period"]["kind"] == "daily" and doc["total"] == 0 and "by_unit" in doc
    week = viewer.get("/api/v1/reports/weekly", params={"day": "2026-11-30"}).json()
    assert week["period"] == {
        "kind": "weekly",
        "start": "2026-11-30",
        "end": "2026-12-07",
        "label": "2026-11-30 – 2026-12-06",
        "start_ms": shanghai_midnight("2026-11-30"),  # its bounds in the centre's zone
        "end_ms": shanghai_midnight("2026-12-07"),
    }
    csv_reply = viewer.get("/api/v1/reports/monthly", params={"day": "2026-11-30", "format": "csv"})
    assert csv_reply.status_code == 200 and csv_reply.headers["content-type"].startswith("text/csv")
    assert 'filename="casewatch-monthly-2026-11-01.csv"' in csv_reply.headers["content-disposition"]
    pdf = viewer.get("/api/v1/reports/daily", params={"format": "pdf"})
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert viewer.get("/api/v1/reports/daily", params={"format": "html"}).text.count("<svg") == 2
    assert viewer.get("/api/v1/reports/yearly").json()["period"]["kind"] == "yearly"  # 年度对比
    assert viewer.get("/api/v1/reports/hourly").status_code == 422
    assert viewer.get("/api/v1/reports/daily", params={"day": "2026-13-40"}).status_code == 422
    assert viewer.get("/api/v1/reports/files/..%2Fhub.db").status_code == 404
    assert hub.anonymous().get("/api/v1/reports/daily").status_code == 401


def test_dossiers_denials_and_users_for_those_allowed(hub: ApiHub, mqtt_broker: Any) -> None:
    viewer, operator, admin = hub.client("viewer"), hub.client("operator"), hub.client("admin")
    feed, t = hub.feed, now_ms()
    publisher = Collector(mqtt_broker.host, mqtt_broker.port)
    denied = {"granted": False, "reason": "not_authorised", "officers": ["o9"], "document": "K7-01"}
    returned = {"granted": True, "reason": "granted", "action": "return", "officers": ["o1"],
                "document": "K7-01", "slot": "s07"}  # fmt: skip
    filled = {"state": "in", "document": "K7-01", "scanned": True}
    for event in (
        feed.event("cabinet.access", t, {"cabinet": "cab-1"}, denied, "cab-1"),
        feed.event("cabinet.access", t + 1, {"cabinet": "cab-1", "slot": "s07"}, returned, "cab-1"),
        feed.event("cabinet.slot", t + 2, {"cabinet": "cab-1", "slot": "s07"}, filled, "cab-1"),
    ):
        publisher.publish(*feed.message(event))

    def settled() -> bool:  # all three events folded (the list appears after the first)
        found = viewer.get("/api/v1/dossiers").json()
        return (
            bool(found)
            and found[0].get("state") == "in"
            and "officers" in (found[0].get("last_access") or {})
        )

    assert wait_until(settled, timeout_s=10)
    (dossier,) = viewer.get("/api/v1/dossiers").json()
    assert dossier["id"] == "K7-01" and dossier["state"] == "in" and dossier["slot"] == "s07"
    assert dossier["last_access"]["officers"] == ["o1"] and dossier["overdue"] is None
    door = {"state": "held_open", "open_since": t}
    publisher.publish(
        *feed.message(feed.event("cabinet.door", t + 3, {"cabinet": "cab-1", "slot": "s07"}, door, "cab-1"))
    )
    assert wait_until(lambda: viewer.get("/api/v1/cabinets").json()[0]["open_doors"] == ["s07"], timeout_s=10)
    (cabinet,) = viewer.get("/api/v1/cabinets").json()
    assert cabinet["id"] == "cab-1" and cabinet["dossiers_in"] == ["K7-01"]
    moves = viewer.get("/api/v1/dossiers/K7-01").json()["moves"]
    assert [(m["kind"], m.get("granted"), m.get("state")) for m in moves] == [
        ("cabinet.access", False, None), ("cabinet.access", True, None), ("cabinet.slot", None, "in"),
    ]  # fmt: skip
    assert viewer.get("/api/v1/dossiers/nope").status_code == 404
    (denial,) = viewer.get("/api/v1/cabinets/denials").json()
    assert (
        denial["reason"] == "not_authorised" and denial["officers"] == ["o9"] and denial["cabinet"] == "cab-1"
    )
    assert viewer.get("/api/v1/users").status_code == 403 and operator.get("/api/v1/users").status_code == 403
    users = admin.get("/api/v1/users").json()
    assert {u["username"]: u["role"] for u in users}["supervisor"] == "supervisor"
    assert all("password_hash" not in u for u in users)


def test_an_alert_keeps_the_snapshots_of_its_rooms_cameras(hub: ApiHub, mqtt_broker: Any) -> None:
    op, viewer = hub.client("operator"), hub.client("viewer")
    intake(hub, "p1")
    assert op.post("/api/v1/bands/B0042/bind", json={"role": "detainee", "person": "p1"}).status_code == 201
    feed, t = hub.feed, now_ms()
    publisher = Collector(mqtt_broker.host, mqtt_broker.port)
    jpeg = b"\xff\xd8\xff\xe0" + b"room-int-1-at-the-time" + b"\xff\xd9"
    publisher.publish(*feed.snapshot("cam-pic", jpeg), qos=0, retain=True)
    for event in (
        feed.event(
            "occupancy", t, {"room": "int-1", "camera": "cam-pic", "zone": "all"}, {"count": 1, "since": t}
        ),
        feed.event("band.position", t + 1, {"band": "B0042"}, {"zone": "z", "room": "int-1"}, source="rx-1"),
    ):
        publisher.publish(*feed.message(event))
    assert wait_until(lambda: hub.service.snapshots.get("cam-pic") is not None, timeout_s=10)
    assert wait_until(
        lambda: next(r for r in viewer.get("/api/v1/rooms").json() if r["id"] == "int-1")["persons"] == 1, 10
    )
    tamper = feed.event(
        "band.tamper", t + 2, {"band": "B0042"}, {"strap_open": True, "magnet": False}, source="rx-1"
    )
    publisher.publish(*feed.message(tamper))
    assert wait_until(lambda: viewer.get("/api/v1/alerts", params={"rule": "WB-TAMPER"}).json(), timeout_s=10)
    (alert,) = viewer.get("/api/v1/alerts", params={"rule": "WB-TAMPER"}).json()
    (picture,) = viewer.get(f"/api/v1/alerts/{alert['id']}").json()["pictures"]
    assert picture["camera"] == "cam-pic" and t - 60_000 <= picture["received_ms"] <= now_ms()
    reply = viewer.get(f"/api/v1/alerts/{alert['id']}/pictures/{picture['name']}")
    assert (
        reply.status_code == 200 and reply.content == jpeg and reply.headers["content-type"] == "image/jpeg"
    )
    assert viewer.get(f"/api/v1/alerts/{alert['id']}/pictures/..%2Fhub.db").status_code == 404
    publisher.publish("casewatch/c1/box-01/snapshots/cam-pic", b"", retain=True)


def test_old_alert_pictures_are_pruned(tmp_path: Path) -> None:
    import os

    from hub.web.evidence import EvidenceFolder
    from hub.web.snapshots import SnapshotCache
    from protocol.topics import SnapshotTopic

    feed = AgentFeed()
    cache = SnapshotCache(Keyring({"box-01": feed.key}), center="c1")
    _topic, payload = feed.snapshot("cam-a", b"\xff\xd8old\xff\xd9", ts=1_000)
    cache.receive(SnapshotTopic("c1", "box-01", "cam-a"), payload, 1_000)
    folder = EvidenceFolder(tmp_path / "evidence")
    (old,) = folder.capture("A-old", ["cam-a", "cam-without-snapshot"], cache)
    (new,) = folder.capture("A-new", ["cam-a"], cache)
    os.utime(old.parent, (1_000, 1_000))  # raised long ago
    assert folder.prune(older_than_ms=10_000_000) == 1
    assert not old.parent.exists() and new.exists()
    assert folder.list("A-new")[0]["camera"] == "cam-a" and folder.read("A-new", "../x") is None

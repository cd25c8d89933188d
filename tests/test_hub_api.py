"""The hub's HTTP API on a real hub (real broker, real SQLite, real uvicorn): every write lands in
the hash-chained log under the caller's name, checks refuse what the log contradicts, and roles
are enforced."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from protocol.ids import uuid7
from tests.api_helpers import PASSWORD, ApiHub, api_hub, officer
from tests.mqtt_helpers import Collector
from tests.waiting import wait_until


@pytest.fixture
def hub(tmp_path: Path, mqtt_broker: Any) -> Iterator[ApiHub]:
    with api_hub(tmp_path, mqtt_broker) as running:
        yield running


def now_ms() -> int:
    return int(time.time() * 1000)


def intake(hub: ApiHub, person: str, **more: Any) -> dict[str, Any]:
    body = {
        "id": person,
        "procedure": "summons",
        "arrived": now_ms() - 60_000,
        "name": "张三",
        "sex": "male",
        **more,
    }
    reply = hub.client("operator").post("/api/v1/persons", json=body)
    assert reply.status_code == 201, reply.text
    return dict(reply.json())


def test_health_needs_no_login_and_says_what_runs(hub: ApiHub) -> None:
    reply = hub.anonymous().get("/api/v1/health")
    assert reply.status_code == 200
    doc = reply.json()
    assert doc["status"] == "ok" and doc["broker_connected"] and doc["ingest_running"]
    assert doc["center"] == "c1" and doc["rules"] >= 19


def test_login_tokens_basic_auth_and_lockout(hub: ApiHub) -> None:
    anonymous = hub.anonymous()
    refused = anonymous.get("/api/v1/persons")
    assert refused.status_code == 401 and refused.headers["www-authenticate"].startswith("Bearer")
    assert refused.json()["error"] == "unauthenticated"
    assert (
        anonymous.post("/api/v1/login", json={"username": "viewer", "password": "wrong"}).status_code == 401
    )
    token = anonymous.post("/api/v1/login", json={"username": "viewer", "password": PASSWORD}).json()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    assert anonymous.get("/api/v1/me", headers=headers).json()["role"] == "viewer"
    assert anonymous.get("/api/v1/persons", auth=("supervisor", PASSWORD)).status_code == 200
    assert anonymous.get("/api/v1/persons", auth=("supervisor", "nope")).status_code == 401
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    assert anonymous.get("/api/v1/me", headers={"Authorization": f"Bearer {forged}"}).status_code == 401
    assert anonymous.post("/api/v1/logout", headers=headers).status_code == 204
    assert anonymous.get("/api/v1/me", headers=headers).status_code == 401  # revoked
    for _ in range(5):
        anonymous.post("/api/v1/login", json={"username": "admin", "password": "guess"})
    locked = anonymous.post("/api/v1/login", json={"username": "admin", "password": PASSWORD})
    assert locked.status_code == 429  # even the right password, while locked
    audit = (
        hub.client("supervisor").get("/api/v1/events", params={"kind": "user.session", "limit": 100}).json()
    )
    trail = [(e["event"]["source"], e["event"]["data"]["action"]) for e in audit]
    for expected in (("viewer", "login_failed"), ("viewer", "login"), ("viewer", "logout")):
        assert expected in trail
    assert trail.count(("admin", "login_failed")) == 5 and ("admin", "login_locked") in trail


def test_each_role_is_refused_what_it_may_not_do(hub: ApiHub) -> None:
    person = {"id": "p1", "procedure": "summons", "arrived": now_ms(), "name": "李四", "sex": "male"}
    assert hub.client("viewer").post("/api/v1/persons", json=person).status_code == 403
    assert hub.client("viewer").get("/api/v1/persons").status_code == 200
    off = officer("王警官", "unit-a")
    assert hub.client("operator").put("/api/v1/officers/o1", json=off).status_code == 403
    assert hub.client("supervisor").put("/api/v1/officers/o1", json=off).status_code == 201
    assert hub.client("operator").get("/api/v1/quarantine").status_code == 403
    assert hub.client("supervisor").get("/api/v1/quarantine").status_code == 200


def test_intake_band_records_case_approval_land_in_the_log_under_the_callers_name(hub: ApiHub) -> None:
    op, sup = hub.client("operator"), hub.client("supervisor")
    assert sup.put("/api/v1/officers/o1", json=officer("王警官", "unit-a")).status_code == 201
    created = intake(hub, "p1", minor=True, case="K1")
    assert created["id"] == "p1" and created["kind"] == "person.intake" and created["pos"] >= 1
    again = op.post(
        "/api/v1/persons",
        json={"id": "p1", "procedure": "summons", "arrived": now_ms(), "name": "张三", "sex": "male"},
    )
    assert again.status_code == 409 and "already in custody" in again.json()["detail"]
    unknown_field = op.post(
        "/api/v1/persons",
        json={"procedure": "summons", "arrived": now_ms(), "name": "x", "sex": "male", "colour": 1},
    )
    assert unknown_field.status_code == 422 and any(
        "colour" in p["field"] for p in unknown_field.json()["problems"]
    )
    generated = op.post(
        "/api/v1/persons", json={"procedure": "inquiry", "arrived": now_ms(), "name": "赵六", "sex": "female"}
    )
    assert generated.status_code == 201 and generated.json()["id"].startswith("P")

    assert op.post("/api/v1/bands/B0042/bind", json={"role": "detainee", "person": "p1"}).status_code == 201
    assert op.post("/api/v1/bands/B0042/bind", json={"role": "detainee", "person": "p1"}).status_code == 409
    assert (
        op.post("/api/v1/bands/B0099/bind", json={"role": "officer", "officer": "nobody"}).status_code == 404
    )
    assert op.post("/api/v1/bands/B0007/bind", json={"role": "officer", "officer": "o1"}).status_code == 201
    assert op.post("/api/v1/bands/B0100/bind", json={"role": "detainee"}).status_code == 422
    bands = {b["band"]: b for b in op.get("/api/v1/bands").json()}
    assert bands["B0042"]["person"] == "p1" and bands["B0007"]["officer"] == "o1"

    assert (
        op.post("/api/v1/persons/p1/records", json={"type": "safety_check", "note": "无违禁品"}).status_code
        == 201
    )
    assert op.post("/api/v1/persons/nobody/records", json={"type": "meal"}).status_code == 404
    assert op.post("/api/v1/persons/p1/records", json={"type": "dance"}).status_code == 422

    assert (
        op.post(
            "/api/v1/cases", json={"id": "K1", "title": "盗窃案", "unit": "unit-a", "officers": ["o9"]}
        ).status_code
        == 422
    )
    assert (
        op.post(
            "/api/v1/cases", json={"id": "K1", "title": "盗窃案", "unit": "unit-a", "officers": ["o1"]}
        ).status_code
        == 201
    )
    assert op.post("/api/v1/cases", json={"id": "K1"}).status_code == 409
    case = op.get("/api/v1/cases/K1").json()
    assert case["officers"] == ["o1"] and case["dossiers"] == []
    approval = {"case": "K1", "type": "extension", "hours": 12, "approved_by": "刘所长"}
    assert op.post("/api/v1/approvals", json=approval).status_code == 201
    assert op.post("/api/v1/approvals", json={"type": "extension", "approved_by": "x"}).status_code == 422

    person = op.get("/api/v1/persons/p1").json()
    assert person["bands"] == ["B0042"] and person["flags"]["minor"] and person["case"] == "K1"
    assert (
        op.post("/api/v1/persons/p1/release", json={"reason": "传唤结束", "family_pickup": True}).status_code
        == 201
    )
    assert op.post("/api/v1/persons/p1/release", json={}).status_code == 409
    assert [p["id"] for p in op.get("/api/v1/persons").json()] == [generated.json()["id"]]
    assert "p1" in [p["id"] for p in op.get("/api/v1/persons", params={"in_custody": "false"}).json()]
    assert "B0042" not in {b["band"] for b in op.get("/api/v1/bands").json()}  # released: unbound

    log = op.get("/api/v1/events", params={"agent": "hub", "limit": 100}).json()
    kinds = [e["event"]["kind"] for e in log]
    assert kinds.count("person.intake") == 2 and "band.bind" in kinds and "case.accept" in kinds
    by = {e["event"]["kind"]: e["event"]["source"] for e in log}
    assert by["officer.register"] == "supervisor" and by["person.release"] == "operator"
    assert op.get(f"/api/v1/events/{log[0]['pos']}").json()["hash"] == log[0]["hash"]
    assert hub.service.store.verify().ok


def test_alert_walks_its_loop_through_the_api_with_roles_and_history(hub: ApiHub, mqtt_broker: Any) -> None:
    op, sup, viewer = hub.client("operator"), hub.client("supervisor"), hub.client("viewer")
    assert sup.put("/api/v1/officers/o1", json=officer("王警官", "unit-a")).status_code == 201
    intake(hub, "p1")
    assert op.post("/api/v1/bands/B0042/bind", json={"role": "detainee", "person": "p1"}).status_code == 201
    publisher = Collector(mqtt_broker.host, mqtt_broker.port)
    tamper = hub.feed.event(
        "band.tamper", now_ms(), {"band": "B0042"}, {"strap_open": True, "magnet": False}, source="rx-1"
    )
    publisher.publish(*hub.feed.message(tamper))
    assert wait_until(lambda: viewer.get("/api/v1/alerts", params={"rule": "WB-TAMPER"}).json(), timeout_s=10)
    (alert,) = viewer.get("/api/v1/alerts", params={"rule": "WB-TAMPER", "open": "true"}).json()
    assert alert["level"] == "red" and alert["level_zh"] == "红" and alert["context"]["person"] == "p1"
    assert "第36条" in alert["basis"]
    assert viewer.get("/api/v1/alerts", params={"level": "blue"}).json() == []
    assert viewer.get("/api/v1/alerts", params={"person": "p1"}).json()[0]["id"] == alert["id"]
    path = f"/api/v1/alerts/{alert['id']}/actions"

    assert viewer.post(path, json={"action": "acknowledge"}).status_code == 403
    assert op.post(path, json={"action": "rectify", "comment": "x"}).status_code == 409  # open: not yet
    assert op.post(path, json={"action": "acknowledge", "comment": "已到场"}).status_code == 201
    assert op.post(path, json={"action": "assign"}).status_code == 422
    assert op.post(path, json={"action": "assign", "assignee": "nobody"}).status_code == 422
    assert op.post(path, json={"action": "assign", "assignee": "o1"}).status_code == 201
    assert op.post(path, json={"action": "rectify", "comment": " "}).status_code == 422
    assert (
        op.post(
            path, json={"action": "rectify", "comment": "更换腕带并复核", "evidence": ["clip-1"]}
        ).status_code
        == 201
    )
    assert op.post(path, json={"action": "verify"}).status_code == 403  # supervisors verify
    assert sup.post(path, json={"action": "verify", "comment": "属实"}).status_code == 201
    assert sup.post(path, json={"action": "close"}).status_code == 201
    assert sup.post(path, json={"action": "close"}).status_code == 409
    assert op.post("/api/v1/alerts/no-such/actions", json={"action": "acknowledge"}).status_code == 404

    wait_until(lambda: viewer.get(f"/api/v1/alerts/{alert['id']}").json()["state"] == "closed", timeout_s=5)
    detail = viewer.get(f"/api/v1/alerts/{alert['id']}").json()
    steps = [(h["action"], h["by"]) for h in detail["history"]]
    assert steps == [
        ("raise", "system"), ("acknowledge", "operator"), ("assign", "operator"), ("rectify", "operator"),
        ("verify", "supervisor"), ("close", "supervisor"),
    ]  # fmt: skip
    assert detail["assignee"] == "o1" and detail["title"]
    (evidence,) = detail["evidence"]  # the fact that raised it, with its place in the chain
    assert evidence["kind"] == "band.tamper" and evidence["subject"] == {"band": "B0042"}
    assert viewer.get(f"/api/v1/events/{evidence['pos']}").json()["hash"] == evidence["hash"]
    retained = Collector(mqtt_broker.host, mqtt_broker.port).subscribe(f"casewatch/c1/alerts/{alert['id']}")
    (message,) = retained.wait_for(1)
    assert json.loads(message[1])["state"] == "closed"


def test_openapi_document_lists_every_route(hub: ApiHub) -> None:
    doc = hub.anonymous().get("/api/v1/openapi.json").json()
    paths = set(doc["paths"])
    for path in (
        "/api/v1/persons", "/api/v1/persons/{person}/release", "/api/v1/persons/{person}/records",
        "/api/v1/bands/{band}/bind", "/api/v1/bands/{band}/unbind", "/api/v1/officers/{officer}",
        "/api/v1/approvals", "/api/v1/cases", "/api/v1/cases/{case}", "/api/v1/dossiers",
        "/api/v1/alerts", "/api/v1/alerts/{alert_id}", "/api/v1/alerts/{alert_id}/actions",
        "/api/v1/events", "/api/v1/quarantine", "/api/v1/notifications", "/api/v1/health",
        "/api/v1/login", "/api/v1/rules", "/api/v1/rooms",
    ):  # fmt: skip
        assert path in paths, path
    intake_schema = doc["components"]["schemas"]["IntakeBody"]
    assert {"procedure", "arrived", "name", "sex"} <= set(intake_schema["required"])


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
    Collector(mqtt_broker.host, mqtt_broker.port).publish(
        "casewatch/c1/box-01/snapshots/cam-snap", jpeg, qos=0, retain=True
    )
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
    }
    csv_reply = viewer.get("/api/v1/reports/monthly", params={"day": "2026-11-30", "format": "csv"})
    assert csv_reply.status_code == 200 and csv_reply.headers["content-type"].startswith("text/csv")
    assert 'filename="casewatch-monthly-2026-11-01.csv"' in csv_reply.headers["content-disposition"]
    pdf = viewer.get("/api/v1/reports/daily", params={"format": "pdf"})
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert viewer.get("/api/v1/reports/daily", params={"format": "html"}).text.count("<svg") == 2
    assert viewer.get("/api/v1/reports/yearly").status_code == 422
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
    assert wait_until(lambda: viewer.get("/api/v1/dossiers").json(), timeout_s=10)
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


# every (role, request) the API refuses, and what it lets through: the permission matrix
WHO = ("anonymous", "viewer", "operator", "supervisor", "admin")
OFFICER = {"name": "x", "sex": "male", "unit": "u"}
MATRIX: list[tuple[str, str, dict[str, Any] | None, str]] = [
    # method, path ({n}: unique per request), body, statuses for anonymous viewer operator supervisor admin
    ("GET", "/api/v1/persons", None, "401 200 200 200 200"),
    ("GET", "/api/v1/quarantine", None, "401 403 403 200 200"),
    ("GET", "/api/v1/users", None, "401 403 403 403 200"),
    ("POST", "/api/v1/cases", {"id": "K{n}"}, "401 403 201 201 201"),
    ("PUT", "/api/v1/officers/o{n}", OFFICER, "401 403 403 201 201"),
    ("POST", "/api/v1/persons/p-{n}/records", {"type": "meal"}, "401 403 404 404 404"),
    ("GET", "/api/v1/reports/daily", None, "401 200 200 200 200"),
    ("GET", "/api/v1/notifications", None, "401 200 200 200 200"),
]


def test_the_permission_matrix(hub: ApiHub) -> None:
    n = 0
    for method, path, body, statuses in MATRIX:
        for role, status in zip(WHO, statuses.split(), strict=True):
            n += 1
            client = hub.anonymous() if role == "anonymous" else hub.client(role)
            url = path.replace("{n}", str(n))
            doc = (
                None
                if body is None
                else {k: v.replace("{n}", str(n)) if isinstance(v, str) else v for k, v in body.items()}
            )
            reply = client.request(method, url, json=doc)
            assert reply.status_code == int(status), (
                f"{role} {method} {url}: {reply.status_code} {reply.text[:200]}"
            )

"""The hub's HTTP API on a real hub (real broker, real SQLite, real uvicorn): every write lands in
the hash-chained log under the caller's name, checks refuse what the log contradicts, and roles
are enforced."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.api_helpers import PASSWORD, ApiHub, api_hub, intake, now_ms, officer, person
from tests.mqtt_helpers import Collector
from tests.waiting import wait_until


@pytest.fixture
def hub(tmp_path: Path, mqtt_broker: Any, store_section: dict[str, str]) -> Iterator[ApiHub]:
    """On each store backend: the API reads and writes the same on SQLite and PostgreSQL."""
    with api_hub(tmp_path, mqtt_broker, store=store_section) as running:
        yield running


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
    closing = sup.post(path, json={"action": "close"})
    assert closing.status_code == 201, closing.text
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


def test_simultaneous_identical_writes_log_once(hub: ApiHub) -> None:
    """Both pass the API's check at once; the ingest thread, which alone writes, refuses the rest."""
    from concurrent.futures import ThreadPoolExecutor

    clients = [hub.client("operator") for _ in range(8)]  # one logged-in client, used from 8 threads
    with ThreadPoolExecutor(8) as pool:
        replies = list(pool.map(lambda c: c.post("/api/v1/persons", json=person("p-same")), clients))
    assert sorted(r.status_code for r in replies) == [201] + [409] * 7
    with ThreadPoolExecutor(8) as pool:
        binds = list(
            pool.map(
                lambda c: c.post("/api/v1/bands/B0777/bind", json={"role": "detainee", "person": "p-same"}),
                clients,
            )
        )
    assert sorted(r.status_code for r in binds) == [201] + [409] * 7
    log = hub.client("viewer").get("/api/v1/events", params={"agent": "hub", "limit": 500}).json()
    kinds = [e["event"]["kind"] for e in log]
    assert kinds.count("person.intake") == 1 and kinds.count("band.bind") == 1

"""Admins manage console accounts and rules on a real hub (broker, SQLite, uvicorn): changes take
effect at once — on sessions, on running timers — are in the audit log, and survive a restart."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from foundation.configfile import load_config
from hub.config import HubConfig
from hub.config import cross_check as hub_cross_check
from hub.service import HubService
from protocol.ids import uuid7
from tests.api_helpers import PASSWORD, ApiHub, api_hub, intake, now_ms
from tests.mqtt_helpers import Collector
from tests.waiting import wait_until

NEW_PASSWORD = "値班-password-1"


@pytest.fixture
def hub(tmp_path: Path, mqtt_broker: Any) -> Iterator[ApiHub]:
    with api_hub(tmp_path, mqtt_broker) as running:
        yield running


def login(hub: ApiHub, username: str, password: str) -> httpx.Response:
    return hub.anonymous().post("/api/v1/login", json={"username": username, "password": password})


def bearer(reply: httpx.Response) -> dict[str, str]:
    assert reply.status_code == 200, reply.text
    return {"Authorization": f"Bearer {reply.json()['token']}"}


def test_admins_make_re_role_disable_and_reset_accounts(hub: ApiHub) -> None:
    admin, supervisor = hub.client("admin"), hub.client("supervisor")
    body = {"username": "duty1", "display_name": "值班员", "role": "operator", "password": NEW_PASSWORD}
    assert supervisor.post("/api/v1/users", json=body).status_code == 403
    assert admin.post("/api/v1/users", json={**body, "password": "short"}).status_code == 422
    assert admin.post("/api/v1/users", json=body).status_code == 201
    assert admin.post("/api/v1/users", json=body).status_code == 409
    assert admin.post("/api/v1/users", json={**body, "username": "viewer"}).status_code == 409  # the file's

    token = bearer(login(hub, "duty1", NEW_PASSWORD))
    me = hub.anonymous().get("/api/v1/me", headers=token).json()
    assert (me["role"], me["display_name"]) == ("operator", "值班员")
    assert admin.patch("/api/v1/users/duty1", json={"role": "supervisor"}).status_code == 200
    assert hub.anonymous().get("/api/v1/me", headers=token).json()["role"] == "supervisor"  # same session

    assert admin.patch("/api/v1/users/duty1", json={"disabled": True}).status_code == 200
    assert hub.anonymous().get("/api/v1/me", headers=token).status_code == 401  # its session ended
    assert login(hub, "duty1", NEW_PASSWORD).status_code == 401
    assert admin.patch("/api/v1/users/duty1", json={"disabled": False}).status_code == 200
    token = bearer(login(hub, "duty1", NEW_PASSWORD))

    assert admin.patch("/api/v1/users/duty1", json={"password": "another-long-one"}).status_code == 200
    assert hub.anonymous().get("/api/v1/me", headers=token).status_code == 401
    assert login(hub, "duty1", NEW_PASSWORD).status_code == 401
    assert login(hub, "duty1", "another-long-one").status_code == 200

    assert admin.patch("/api/v1/users/viewer", json={"role": "admin"}).status_code == 409  # in the file
    assert admin.patch("/api/v1/users/nobody", json={"role": "admin"}).status_code == 404
    hub.service.accounts.save(  # an admin made in the console may not lock themselves out
        hub.service.accounts.get("duty1").__class__(  # type: ignore[union-attr]
            "boss", None, "admin", hub.service.accounts.file_users["admin"].password_hash, False, "console"
        ),
        by="test", now_ms=now_ms(),
    )  # fmt: skip
    hub.service.http.app.state.ctx.auth.set_users(hub.service.accounts.active_users())  # type: ignore[union-attr]
    boss = {"Authorization": bearer(login(hub, "boss", PASSWORD))["Authorization"]}
    refused = hub.anonymous().patch("/api/v1/users/boss", json={"disabled": True}, headers=boss)
    assert refused.status_code == 409

    users = {u["username"]: u for u in admin.get("/api/v1/users").json()}
    assert users["duty1"]["source"] == "console" and users["viewer"]["source"] == "file"
    assert users["duty1"]["role"] == "supervisor" and users["duty1"]["updated_by"] == "admin"
    assert all("password_hash" not in u for u in users.values())
    trail = admin.get("/api/v1/events", params={"kind": "user.account", "limit": 50}).json()
    steps = [(e["event"]["source"], e["event"]["data"]["action"]) for e in trail]
    assert steps == [("admin", a) for a in ("create", "update", "disable", "enable", "password")]
    assert "another-long-one" not in json.dumps(trail) and "pbkdf2" not in json.dumps(trail)


def _start(hub: ApiHub, started_ms: int) -> None:
    facts = {"persons": 2, "detainees": 1, "officers": 1, "required_officers": 2}
    event = hub.feed.event(
        "condition.start", started_ms, {"room": "int-1"},
        {"condition": "understaffed", "condition_id": uuid7(started_ms), "facts": facts}, source="box-01",
    )  # fmt: skip
    Collector("127.0.0.1", hub.service.cfg.mqtt.port).publish(*hub.feed.message(event))  # type: ignore[union-attr]


def test_admins_change_rules_and_running_timers_follow(hub: ApiHub, tmp_path: Path) -> None:
    admin, viewer = hub.client("admin"), hub.client("viewer")
    _start(hub, now_ms() - 20_000)  # held 20 s: INT-TWO's yellow is due at 60 s
    assert wait_until(lambda: hub.service.core.engine.pending_timers() >= 1, timeout_s=10)
    assert viewer.get("/api/v1/alerts", params={"rule": "INT-TWO"}).json() == []

    change = {
        "enabled": True,
        "stages": [{"level": "yellow", "after_ms": 10_000}, {"level": "orange", "after_ms": 120_000}],
        "comment": "试点：缩短黄色预警",
    }
    assert hub.client("supervisor").put("/api/v1/rules/INT-TWO", json=change).status_code == 403
    wrong = {**change, "stages": [{"level": "orange", "after_ms": 1}, {"level": "yellow", "after_ms": 2}]}
    assert admin.put("/api/v1/rules/INT-TWO", json=wrong).status_code == 422
    assert admin.put("/api/v1/rules/INT-TWO", json={**change, "limit_ms": 60_000}).status_code == 422
    assert admin.put("/api/v1/rules/NO-SUCH", json=change).status_code == 404
    reply = admin.put("/api/v1/rules/INT-TWO", json=change)
    assert reply.status_code == 200, reply.text
    assert reply.json()["overridden"] and reply.json()["stages"][0]["after_ms"] == 10_000
    assert reply.json()["file"]["stages"][0]["after_ms"] == 60_000
    # the running episode's timer was recomputed: yellow is overdue now, raised at the next tick
    assert wait_until(lambda: viewer.get("/api/v1/alerts", params={"rule": "INT-TWO"}).json(), timeout_s=10)
    assert viewer.get("/api/v1/alerts", params={"rule": "INT-TWO"}).json()[0]["level"] == "yellow"

    assert (
        admin.put("/api/v1/rules/WB-TAMPER", json={"enabled": False, "comment": "腕带检修"}).status_code
        == 200
    )
    op = hub.client("operator")
    intake(hub, "p1")
    assert op.post("/api/v1/bands/B0042/bind", json={"role": "detainee", "person": "p1"}).status_code == 201
    tamper = hub.feed.event(
        "band.tamper", now_ms(), {"band": "B0042"}, {"strap_open": True, "magnet": False}, source="rx-1"
    )
    Collector("127.0.0.1", hub.service.cfg.mqtt.port).publish(*hub.feed.message(tamper))  # type: ignore[union-attr]
    assert wait_until(
        lambda: viewer.get("/api/v1/events", params={"kind": "band.tamper"}).json(), timeout_s=10
    )
    assert viewer.get("/api/v1/alerts", params={"rule": "WB-TAMPER"}).json() == []  # off: no alert
    rules = {r["id"]: r for r in viewer.get("/api/v1/rules").json()}
    assert rules["WB-TAMPER"]["enabled"] is False and rules["WB-TAMPER"]["file"]["enabled"] is True
    trail = viewer.get("/api/v1/events", params={"kind": "rule.change"}).json()
    assert [(e["event"]["source"], e["event"]["data"]["rule"]) for e in trail] == [
        ("admin", "INT-TWO"), ("admin", "WB-TAMPER"),
    ]  # fmt: skip

    # a restart reads the changes back and the console account store with them
    hub.service.stop()
    cfg = load_config(tmp_path / "hub.yaml", HubConfig, cross_check=hub_cross_check)
    again = HubService(cfg, tmp_path).open()
    try:
        restored = {r.id: r for r in again.rules.rules}
        assert restored["WB-TAMPER"].enabled is False and restored["INT-TWO"].levels[0].after == 10_000
        assert "WB-TAMPER" not in again.core.engine.rules
    finally:
        again.store.close()
    hub.service = HubService(cfg, tmp_path).start()  # for the fixture's stop
    assert hub.service.ready.wait(15)


def test_sessions_ended_by_an_admin_stay_ended_after_a_restart(tmp_path: Path, mqtt_broker: Any) -> None:
    secret = {"port": 0, "session_secret": "s" * 32}  # tokens outlive a restart: voids must too
    with api_hub(tmp_path, mqtt_broker, http=secret) as hub:
        admin = hub.client("admin")
        body = {"username": "duty3", "role": "operator", "password": NEW_PASSWORD}
        assert admin.post("/api/v1/users", json=body).status_code == 201
        kept = bearer(login(hub, "viewer", PASSWORD))  # a file user's session: untouched
        ended = bearer(login(hub, "duty3", NEW_PASSWORD))
        assert admin.patch("/api/v1/users/duty3", json={"password": "a-new-long-one"}).status_code == 200
        hub.service.stop()
        cfg = load_config(tmp_path / "hub.yaml", HubConfig, cross_check=hub_cross_check)
        hub.service = HubService(cfg, tmp_path).start()
        assert hub.service.ready.wait(15) and hub.service.http is not None and hub.service.http.wait_started()
        again = httpx.Client(base_url=hub.service.http.url, timeout=15)
        assert again.get("/api/v1/me", headers=kept).status_code == 200
        assert again.get("/api/v1/me", headers=ended).status_code == 401
        assert (
            again.post("/api/v1/login", json={"username": "duty3", "password": "a-new-long-one"}).status_code
            == 200
        )

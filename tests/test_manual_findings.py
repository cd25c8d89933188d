"""Remote reminders (issue 20): a finding raised by hand becomes an alert in the same loop as the
automatic ones — the level chosen, the officers named (prefilled from the staff bands in the room),
the camera's picture kept as evidence, SMS to the officer and the unit leader through a real
pyserial modem on a pseudo-terminal, assign → rectify → verify, counted apart in the reports."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from casewatch.simulation.modem import SimulatedModem
from casewatch.simulation.wristbands import PtyResponder
from hub.alerts import AlertBook
from hub.findings import catalogue
from hub.rules.engine import load_rule_files
from hub.rules.state import Signal
from tests.api_helpers import ApiHub, api_hub, now_ms, officer
from tests.mqtt_helpers import Collector
from tests.test_hub_notify import staff_case_and_detainee, texts_by_number
from tests.test_patrol import picture
from tests.waiting import wait_until

RULES = sorted((Path(__file__).parent.parent / "configs" / "rules").glob("*.yaml"))
AUX, LEADER_B = "13800000009", "13800000008"


def test_the_catalogue_offers_the_rules_and_the_manual_items() -> None:
    pack = load_rule_files(RULES)
    items = {item.id: item for item in catalogue(pack)}
    assert "MANUAL" not in items  # the reminder rule itself is not something to pick
    assert items["INT-TWO"].source == "rule" and items["INT-TWO"].level == "orange"  # its highest
    assert items["AUX-ALONE"].source == "manual" and items["AUX-ALONE"].title == "辅警单独讯问、询问"
    assert {"BELONGINGS-UNREGISTERED", "RECORDING-GAP", "OTHER"} <= set(items)


def test_a_finding_item_may_not_reuse_a_rule_id(tmp_path: Path) -> None:
    from foundation.errors import ConfigError

    extra = tmp_path / "extra.yaml"
    extra.write_text("findings:\n  - {id: INT-TWO, title: 重复的编号, level: blue}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="INT-TWO"):
        load_rule_files([*RULES, extra])


def test_a_manual_ticket_stays_open_below_orange_and_escalates_when_unrectified() -> None:
    book = AlertBook(escalate_after_ms=48 * 3_600_000)
    t0 = 1_767_250_000_000
    for kind, ticket in (("auto", False), ("manual", True)):
        book.apply(Signal("level", "R", kind, ("k",), t0, t0, level="blue", ticket=ticket))
        book.apply(Signal("clear", "R", kind, ("k",), t0, t0, ticket=ticket))
    assert book.alerts["auto"].state == "closed"  # a blue alert of a rule closes once cleared
    manual = book.alerts["manual"]
    assert manual.state == "open" and not manual.active and manual.is_ticket
    book.tick(t0 + 48 * 3_600_000)
    assert manual.level == "yellow" and manual.escalations == 1  # 48 h unrectified: one level up
    assert set(manual.reached) == {"blue", "yellow"}  # reports count the level it rose to
    book.act("manual", "assign", by="op", at_ms=t0 + 49 * 3_600_000, assignee="o1")
    book.act("manual", "rectify", by="o1", at_ms=t0 + 50 * 3_600_000, comment="已整改")
    book.tick(t0 + 200 * 3_600_000)
    assert manual.level == "yellow"  # rectified: no more escalation


@contextmanager
def hub_with_modem(tmp_path: Path, mqtt_broker: Any) -> Iterator[tuple[ApiHub, SimulatedModem]]:
    """A hub whose SMS go to a simulated modem on a pty (real pyserial); the camera's retained
    picture is cleared afterwards (the broker is shared)."""
    modem = SimulatedModem(urc_every=0)
    responder = PtyResponder(modem.respond).start()
    try:
        with api_hub(tmp_path, mqtt_broker, notify={"sms": {"port": responder.path}}) as running:
            yield running, modem
    finally:
        responder.close()
        cleaner = Collector(mqtt_broker.host, mqtt_broker.port)
        cleaner.publish("casewatch/c1/box-01/snapshots/cam-i1", b"", qos=0, retain=True)
        cleaner.close()


@pytest.fixture
def hub(tmp_path: Path, mqtt_broker: Any) -> Iterator[tuple[ApiHub, SimulatedModem]]:
    with hub_with_modem(tmp_path, mqtt_broker) as running:
        yield running


def aux_in_the_interrogation_room(hub: ApiHub, mqtt_broker: Any, jpeg: bytes) -> None:
    """Case K1 (unit-a, o1) with detainee p1; an auxiliary of unit-b wearing band B0077 seen in
    int-1, whose camera cam-i1 publishes a picture."""
    staff_case_and_detainee(hub)
    sup, op = hub.client("supervisor"), hub.client("operator")
    for oid, doc in (
        ("aux1", officer("孙辅警", "unit-b", phone=AUX, police=False)),
        ("leadb", officer("周所长", "unit-b", roles=["unit_leader"], phone=LEADER_B)),
    ):
        assert sup.put(f"/api/v1/officers/{oid}", json=doc).status_code == 201
    assert (
        op.post("/api/v1/bands/B0077/bind", json={"role": "auxiliary", "officer": "aux1"}).status_code == 201
    )
    feed, t = hub.feed, now_ms()
    publisher = Collector(mqtt_broker.host, mqtt_broker.port)
    try:
        health = feed.event(
            "camera.health", t, {"camera": "cam-i1", "room": "int-1"}, {"state": "online", "since": t}
        )
        seen = feed.event("band.position", t, {"band": "B0077"}, {"zone": "int-1", "room": "int-1"}, "rx-1")
        for event in (health, seen):
            publisher.publish(*feed.message(event))
        publisher.publish(*feed.snapshot("cam-i1", jpeg), qos=0, retain=True)
    finally:
        publisher.close()
    viewer = hub.client("viewer")
    assert wait_until(lambda: viewer.get("/api/v1/cameras/cam-i1/snapshot").status_code == 200, 10)
    assert wait_until(
        lambda: viewer.get("/api/v1/findings/responsible", params={"camera": "cam-i1"}).json()["officers"], 10
    )


def test_a_reminder_from_a_camera_goes_through_the_whole_loop(
    hub: tuple[ApiHub, SimulatedModem], mqtt_broker: Any
) -> None:
    api, modem = hub
    shown = picture("cam-i1")
    aux_in_the_interrogation_room(api, mqtt_broker, shown)
    viewer, op, sup = api.client("viewer"), api.client("operator"), api.client("supervisor")
    who = viewer.get("/api/v1/findings/responsible", params={"camera": "cam-i1"}).json()
    assert who["room"] == "int-1" and [o["id"] for o in who["officers"]] == ["aux1"]
    assert who["unit"] == "unit-b" and who["officers"][0]["police"] is False
    body = {
        "item": "AUX-ALONE", "level": "yellow", "camera": "cam-i1", "officers": ["aux1"], "unit": "unit-b",
        "comment": "讯问室1仅一名辅警在场",
    }  # fmt: skip
    assert viewer.post("/api/v1/findings", json=body).status_code == 403  # a viewer may not raise
    made = op.post("/api/v1/findings", json=body)
    assert made.status_code == 201, made.text
    raised = made.json()
    assert raised["picture"]["sha256"] == hashlib.sha256(shown).hexdigest()

    def alert() -> dict[str, Any]:
        reply = viewer.get(f"/api/v1/alerts/{raised['alert']}")
        return dict(reply.json()) if reply.status_code == 200 else {}

    assert wait_until(lambda: alert().get("pictures"), 10), alert()
    doc = alert()
    assert doc["rule"] == "MANUAL" and doc["level"] == "yellow" and doc["state"] == "open"
    assert doc["title"] == "远程提醒：辅警单独讯问、询问"
    assert doc["context"]["room"] == "int-1" and doc["context"]["officers"] == ["aux1"]
    kept = viewer.get(f"/api/v1/alerts/{raised['alert']}/pictures/{doc['pictures'][0]['name']}")
    assert hashlib.sha256(kept.content).hexdigest() == raised["picture"]["sha256"]  # what was seen
    # yellow: the named officer, the named unit's leader and the duty supervisor; not the case's
    # officer o1 (no person named)
    wanted = {AUX, LEADER_B, "13800000003"}
    assert wait_until(lambda: wanted <= set(texts_by_number(modem)), 20), texts_by_number(modem)
    texts = texts_by_number(modem)
    assert texts[AUX].startswith(
        "【c1】远程提醒：辅警单独讯问、询问（黄色）。讯问室1，讯问室1仅一名辅警在场。"
    )
    assert "13800000001" not in texts
    actions = f"/api/v1/alerts/{raised['alert']}/actions"
    assert (
        op.post(actions, json={"action": "assign", "assignee": "aux1", "comment": "请整改"}).status_code
        == 201
    )
    assert op.post(actions, json={"action": "rectify", "comment": "已增派民警"}).status_code == 201
    assert sup.post(actions, json={"action": "verify", "comment": "核实"}).status_code == 201
    assert wait_until(lambda: alert().get("state") == "verified", 10)
    report = viewer.get("/api/v1/reports/daily").json()
    assert (report["manual"], report["automatic"]) == (1, report["total"] - 1)
    row = next(r for r in report["by_rule"] if r["rule"] == "MANUAL")
    assert row["item"] == "AUX-ALONE" and row["manual"] is True


def test_an_orange_reminder_reaches_the_unit_leader_named_by_the_unit(
    hub: tuple[ApiHub, SimulatedModem], mqtt_broker: Any
) -> None:
    api, modem = hub
    aux_in_the_interrogation_room(api, mqtt_broker, picture("cam-i1"))
    body = {"item": "BELONGINGS-UNREGISTERED", "level": "orange", "person": "p1", "unit": "unit-b"}
    made = api.client("operator").post("/api/v1/findings", json=body)
    assert made.status_code == 201, made.text
    # the person's case officer o1 (unit-a) and both unit leaders: the case's unit and the one named
    wanted = {"13800000001", "13800000002", LEADER_B}
    assert wait_until(lambda: wanted <= set(texts_by_number(modem)), 20), texts_by_number(modem)
    assert "随身财物未登记保管" in texts_by_number(modem)[LEADER_B]


def test_hostile_reminders_are_refused(hub: tuple[ApiHub, SimulatedModem], mqtt_broker: Any) -> None:
    api, _ = hub
    aux_in_the_interrogation_room(api, mqtt_broker, picture("cam-i1"))
    op = api.client("operator")
    base = {"item": "AUX-ALONE", "level": "orange", "officers": ["aux1"]}
    for change, status in (
        ({"item": "NO-SUCH-ITEM"}, 422),
        ({"level": "purple"}, 422),
        ({"officers": ["ghost"]}, 422),
        ({"camera": "cam-nobody"}, 404),
        ({"room": "no-room"}, 404),
        ({"person": "nobody"}, 404),
        ({"officers": [], "unit": None}, 422),  # nobody responsible
        ({"comment": "x" * 501}, 422),
        ({"extra": 1}, 422),
    ):
        reply = op.post("/api/v1/findings", json={**base, **change})
        assert reply.status_code == status, (change, reply.text)
    admin = api.client("admin")
    assert admin.put("/api/v1/rules/MANUAL", json={"enabled": False, "comment": "停用"}).status_code == 200
    assert api.client("viewer").get("/api/v1/findings/catalogue").json()["enabled"] is False
    assert op.post("/api/v1/findings", json=base).status_code == 409  # switched off: said, not lost


def test_a_reminder_reaches_whom_it_names_at_every_level(
    hub: tuple[ApiHub, SimulatedModem], mqtt_broker: Any
) -> None:
    """After the review: a green reminder naming only a unit still reaches that unit's leader
    (green's own roles tell nobody), and an officer no longer in service cannot be named."""
    api, modem = hub
    aux_in_the_interrogation_room(api, mqtt_broker, picture("cam-i1"))
    op, sup = api.client("operator"), api.client("supervisor")
    body = {"item": "DISCIPLINE", "level": "green", "room": "int-1", "unit": "unit-b"}
    made = op.post("/api/v1/findings", json=body)
    assert made.status_code == 201, made.text
    assert wait_until(lambda: LEADER_B in texts_by_number(modem), 20), texts_by_number(modem)
    assert "（绿色）" in texts_by_number(modem)[LEADER_B]
    gone = officer("钱辅警", "unit-b", phone="13800000007", police=False, active=False)
    assert sup.put("/api/v1/officers/gone", json=gone).status_code == 201
    retired = op.post("/api/v1/findings", json={"item": "OTHER", "level": "yellow", "officers": ["gone"]})
    assert retired.status_code == 422 and "gone" in retired.text


def test_what_an_operator_may_not_claim(hub: tuple[ApiHub, SimulatedModem], mqtt_broker: Any) -> None:
    """After the review: a unit must exist (a made-up one would be ranked as a unit of its own),
    a camera's picture cannot be filed under another room, a picture declined is not kept, red is a
    supervisor's call, and a user raises a few reminders a minute at most."""
    api, _ = hub
    aux_in_the_interrogation_room(api, mqtt_broker, picture("cam-i1"))
    op, sup, viewer = api.client("operator"), api.client("supervisor"), api.client("viewer")
    base = {"item": "OTHER", "level": "blue", "officers": ["aux1"]}
    assert op.post("/api/v1/findings", json={**base, "unit": "no-such-unit"}).status_code == 422
    elsewhere = op.post("/api/v1/findings", json={**base, "camera": "cam-i1", "room": "wait-1"})
    assert elsewhere.status_code == 422 and "int-1" in elsewhere.text
    declined = op.post("/api/v1/findings", json={**base, "camera": "cam-i1", "picture": False})
    assert declined.status_code == 201 and declined.json()["picture"] is None
    alert = declined.json()["alert"]
    assert wait_until(lambda: viewer.get(f"/api/v1/alerts/{alert}").status_code == 200, 10)
    assert viewer.get(f"/api/v1/alerts/{alert}").json()["pictures"] == []  # none kept behind its back
    assert op.post("/api/v1/findings", json={**base, "level": "red"}).status_code == 403
    assert sup.post("/api/v1/findings", json={**base, "level": "red"}).status_code == 201
    codes = [op.post("/api/v1/findings", json=base).status_code for _ in range(6)]
    assert codes[:5] == [201] * 5 and codes[-1] == 429, codes  # 6 a minute: 1 already, then 5 more
    report = viewer.get("/api/v1/reports/daily").json()
    assert "no-such-unit" not in {u["unit"] for u in report["by_unit"]}


def test_the_evaluation_keeps_unlisted_deductions_and_ranks_clean_units() -> None:
    from datetime import date

    from hub.config import Evaluation
    from hub.reports import UNASSIGNED, AlertRow, Scoring, build, period_of

    assert Evaluation.model_validate({"deduct": {"red": 10}}).deduct["orange"] == 2.0  # not pardoned
    day = period_of("daily", date(2026, 11, 30), "Asia/Shanghai")
    start, _ = day.ms()
    rows = [
        AlertRow("a", "R", "t", "orange", "", "unit-a", (), start + 1000),
        AlertRow("b", "R", "t", "red", "", "", (), start + 2000),
    ]
    made = build(day, rows, start + 3000, Scoring(), units=["unit-a", "unit-c"])
    assert [(u["unit"], u["rank"], u["score"]) for u in made.by_unit] == [
        ("unit-c", 1, 100.0),  # no alert at all: the best of the day
        ("unit-a", 2, 98.0),
        (UNASSIGNED, None, 96.0),  # nobody to evaluate: listed, not ranked
    ]

"""Notifications from a real hub: Chinese SMS through a simulated modem on a PTY, a webhook on a
real HTTP server that fails before it succeeds, MQTT per recipient; every attempt stored."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from casewatch.simulation.modem import SimulatedModem
from casewatch.simulation.wristbands import PtyResponder
from devices.sms_pdu import decode_submit_text
from hub.errors import StoreError
from hub.notify.channels import WebhookChannel
from hub.notify.dispatcher import Dispatcher, Lane
from hub.notify.policy import Planned
from hub.notify.store import NotificationStore
from hub.store import HubStore
from protocol.clock import SystemClock
from tests.api_helpers import ApiHub, api_hub, officer, person
from tests.mqtt_helpers import Collector
from tests.waiting import wait_until
from tests.webhook_server import WebhookServer

SECRET = "webhook-secret-for-tests"


@pytest.fixture
def modem() -> Iterator[tuple[SimulatedModem, PtyResponder]]:
    sim = SimulatedModem(urc_every=0)
    responder = PtyResponder(sim.respond).start()
    yield sim, responder
    responder.close()


def staff_case_and_detainee(hub: ApiHub) -> None:
    sup, op = hub.client("supervisor"), hub.client("operator")
    for oid, doc in (
        ("o1", officer("王警官", "unit-a", phone="13800000001")),
        ("lead", officer("李所长", "unit-a", roles=["unit_leader"], phone="13800000002")),
        ("duty", officer("赵督察", "centre", roles=["duty_supervisor"], phone="13800000003")),
        ("fz", officer("钱法制", "legal", roles=["legal"])),
    ):
        assert sup.put(f"/api/v1/officers/{oid}", json=doc).status_code == 201
    case = {"id": "K1", "title": "盗窃案", "unit": "unit-a", "officers": ["o1"]}
    assert op.post("/api/v1/cases", json=case).status_code == 201
    assert op.post("/api/v1/persons", json=person("p1", case="K1")).status_code == 201
    assert op.post("/api/v1/bands/B0042/bind", json={"role": "detainee", "person": "p1"}).status_code == 201


def texts_by_number(sim: SimulatedModem) -> dict[str, str]:
    """Whole messages per number, concatenated parts (UDH) joined in order."""
    parts: dict[tuple[str, int], dict[int, str]] = {}
    totals: dict[tuple[str, int], int] = {}
    for pdu in sim.sent:
        number, text, udh = decode_submit_text(pdu)
        ref, total, seq = udh or (0, 1, 1)
        parts.setdefault((number, ref), {})[seq] = text
        totals[(number, ref)] = total
    return {
        number: "".join(chunks[i] for i in sorted(chunks))
        for (number, ref), chunks in parts.items()
        if len(chunks) == totals[(number, ref)]
    }


def tamper(hub: ApiHub, broker: Any) -> None:
    event = hub.feed.event(
        "band.tamper", int(time.time() * 1000), {"band": "B0042"}, {"strap_open": True, "magnet": False}
    )
    Collector(broker.host, broker.port).publish(*hub.feed.message(event))


def test_a_red_alert_reaches_each_role_by_sms_mqtt_and_webhook(
    tmp_path: Path, mqtt_broker: Any, modem: tuple[SimulatedModem, PtyResponder]
) -> None:
    sim, responder = modem
    server = WebhookServer(statuses=[500, 503]).start()  # two failures, then accepted
    notify = {
        "sms": {"port": responder.path},
        "webhooks": [{"id": "ops", "url": server.url, "secret": SECRET, "retries": 3, "timeout_s": 2}],
    }
    inbox = Collector(mqtt_broker.host, mqtt_broker.port).subscribe("casewatch/c1/notify/#")
    with api_hub(tmp_path, mqtt_broker, notify=notify) as hub:
        staff_case_and_detainee(hub)
        tamper(hub, mqtt_broker)
        assert wait_until(lambda: len(texts_by_number(sim)) == 3, timeout_s=30), sim.sent
        texts = texts_by_number(sim)
        assert set(texts) == {"13800000001", "13800000002", "13800000003"}  # officer, unit leader, duty
        for text in texts.values():
            assert text.startswith("【c1】红色预警：腕带被剪断、摘除或磁干扰。") and "第36条" in text
        messages = inbox.wait_for(4)
        by_recipient = {topic.rsplit("/", 1)[1]: json.loads(body) for topic, body, _ in messages}
        assert set(by_recipient) == {"o1", "lead", "duty", "fz"}  # 法制 has no phone: MQTT only
        assert by_recipient["fz"]["role"] == "legal" and by_recipient["o1"]["level"] == "red"

        assert wait_until(lambda: len(server.received) == 3, timeout_s=20)  # 2 s and 4 s of backoff
        delivered = server.received[-1]
        assert (
            delivered.headers["x-casewatch-signature"]
            == "sha256=" + hmac.new(SECRET.encode(), delivered.body, hashlib.sha256).hexdigest()
        )
        doc = json.loads(delivered.body)
        assert (
            doc["alert"]["rule"] == "WB-TAMPER" and doc["alert"]["level_zh"] == "红" and doc["level"] == "red"
        )
        assert len({r.headers["x-casewatch-delivery"] for r in server.received}) == 1  # one delivery, retried

        viewer = hub.client("viewer")
        wait_until(
            lambda: all(n["state"] == "sent" for n in viewer.get("/api/v1/notifications").json()), timeout_s=5
        )
        notes = viewer.get("/api/v1/notifications").json()
        assert {n["channel"] for n in notes} == {"sms", "mqtt", "webhook"} and len(notes) == 3 + 4 + 1
        assert all(n["state"] == "sent" for n in notes)
        (hook,) = [n for n in notes if n["channel"] == "webhook"]
        assert [t["ok"] for t in hook["tries"]] == [False, False, True] and "HTTP 500" in hook["tries"][0][
            "detail"
        ]
        alert_id = hook["alert"]
        assert len(viewer.get(f"/api/v1/alerts/{alert_id}").json()["notifications"]) == 8
    server.stop()


def test_a_dead_modem_fails_its_sms_with_the_reason_and_nothing_else_stops(
    tmp_path: Path, mqtt_broker: Any
) -> None:
    notify = {"sms": {"port": str(tmp_path / "no-such-modem")}}
    with api_hub(tmp_path, mqtt_broker, notify=notify) as hub:
        staff_case_and_detainee(hub)
        tamper(hub, mqtt_broker)
        viewer = hub.client("viewer")

        def sms() -> list[dict[str, Any]]:
            return [n for n in viewer.get("/api/v1/notifications").json() if n["channel"] == "sms"]

        assert wait_until(
            lambda: len(sms()) == 3 and all(n["state"] == "failed" for n in sms()), timeout_s=30
        )
        for note in sms():
            assert note["attempts"] == 3 and "no-such-modem" in note["detail"]
        mqtt = [n for n in viewer.get("/api/v1/notifications").json() if n["channel"] == "mqtt"]
        assert mqtt and all(n["state"] == "sent" for n in mqtt)
        assert hub.anonymous().get("/api/v1/health").json()["status"] == "ok"


PLANNED = Planned("a1|red|webhook|ops", "a1", "red", "raise", "webhook", "ops", "", "ops", "红色预警", True)


def one_planned_webhook(tmp_path: Path) -> tuple[HubStore, NotificationStore, Planned]:
    """A store holding one pending red-alert webhook notification, as the ingest plans it."""
    store = HubStore(tmp_path / "hub.db")
    notes = NotificationStore(store)
    with store.transaction() as db:
        notes.add(db, [PLANNED], int(time.time() * 1000), per_hour=20)
    return store, notes, PLANNED


def test_pending_notifications_survive_a_restart_and_go_out_once(tmp_path: Path) -> None:
    """A webhook that was down when the hub stopped is delivered by the next start, once."""
    store, notes, planned = one_planned_webhook(tmp_path)
    down = WebhookChannel("http://127.0.0.1:9/hook", center="c1", timeout_s=0.5, retries=5)
    first = Dispatcher(notes, [Lane("webhook", "ops", down)], SystemClock(), lambda _id: None)
    assert first.deliver_due(first.lanes[0])  # refused: stays pending for a retry
    (row,) = notes.query()
    assert row.state == "pending" and row.attempts == 1 and "ConnectError" in row.detail
    down.close()
    store.close()

    server = WebhookServer().start()
    store = HubStore(tmp_path / "hub.db")  # "restart"
    notes = NotificationStore(store)
    with store.transaction() as db:  # the replayed alert plans the same notification again: ignored
        assert notes.add(db, [planned], int(time.time() * 1000), per_hour=20) == 0
    up = WebhookChannel(server.url, center="c1", retries=5)
    second = Dispatcher(notes, [Lane("webhook", "ops", up)], SystemClock(), lambda _id: {"id": "a1"}).start()
    assert wait_until(lambda: notes.query()[0].state == "sent", timeout_s=10)  # after its 2 s backoff
    second.stop()
    up.close()
    assert len(server.received) == 1 and json.loads(server.received[0].body)["alert"] == {"id": "a1"}
    assert [a["ok"] for a in notes.attempts(row.id)] == [False, True]
    server.stop()
    store.close()


def test_a_sent_notification_whose_record_fails_is_not_sent_again(tmp_path: Path) -> None:
    """Review: in a store stall the attempt could not be written, the row stayed pending and due,
    and the SMS went out again every round. Now it is held, recorded once the store takes it."""
    store, notes, _planned = one_planned_webhook(tmp_path)
    server = WebhookServer().start()
    channel = WebhookChannel(server.url, center="c1", retries=5)
    dispatcher = Dispatcher(notes, [Lane("webhook", "ops", channel)], SystemClock(), lambda _id: {"id": "a1"})
    real = NotificationStore.attempted
    broken = {"on": True}

    def attempted(self: NotificationStore, *args: Any, **kwargs: Any) -> str:
        if broken["on"]:
            raise StoreError("database or disk is full (injected)")
        return real(self, *args, **kwargs)

    NotificationStore.attempted = attempted  # type: ignore[method-assign]
    try:
        with pytest.raises(StoreError):
            dispatcher.deliver_due(dispatcher.lanes[0])  # sent, not recorded
        for _ in range(3):  # the store still refuses: nothing is sent again
            assert not dispatcher.deliver_due(dispatcher.lanes[0])
        assert len(server.received) == 1
        broken["on"] = False
        assert not dispatcher.deliver_due(dispatcher.lanes[0])  # the held attempt is written first
        (row,) = notes.query()
        assert row.state == "sent" and row.attempts == 1 and len(server.received) == 1
    finally:
        NotificationStore.attempted = real  # type: ignore[method-assign]
        channel.close()
        server.stop()
        store.close()

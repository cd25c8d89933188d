"""Issue 15's findings, each reproduced against the hub in-process on a real Mosquitto and SQLite.

Poison messages that used to abort a batch or stall the broker's in-flight window, an outbox
reset that was black-holed, a first batch lost without a trace, a full disk and a failed save
that were forgotten — each must now end with every valid event stored once, the bad ones
quarantined, and the hub saying what happened and resuming by itself.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
import pytest

from hub.service import HubService
from hub.state_store import DerivedStore
from protocol.canonical import canonical_bytes
from protocol.receipts import decode_receipt
from protocol.signing import Keyring
from tests.hub_helpers import AGENT, CENTER, REPO, AgentFeed, running_hub
from tests.mqtt_helpers import Collector
from tests.waiting import wait_until

EPOCH_A = "a0a0a0a0a0a0a0a0"
EPOCH_B = "b1b1b1b1b1b1b1b1"


def start_hub(tmp_path: Path, broker: Any, feed: AgentFeed) -> HubService:
    service: HubService = running_hub(
        tmp_path, broker.port, feed, [str(REPO / "configs" / "rules" / "ingest.yaml")]
    )
    return service


@pytest.fixture
def feed() -> AgentFeed:
    return AgentFeed(epoch=EPOCH_A)


@pytest.fixture
def hub(tmp_path: Path, mqtt_broker: Any, feed: AgentFeed) -> Iterator[HubService]:
    service = start_hub(tmp_path, mqtt_broker, feed)
    yield service
    service.stop()


@pytest.fixture
def pub(mqtt_broker: Any) -> Iterator[mqtt.Client]:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
    client.max_inflight_messages_set(1000)
    client.connect(mqtt_broker.host, mqtt_broker.port)
    client.loop_start()
    yield client
    client.loop_stop()
    client.disconnect()


def battery(feed: AgentFeed, percent: int = 80) -> tuple[str, bytes]:
    return feed.message(
        feed.event("band.battery", int(time.time() * 1000), {"band": "B1"}, {"percent": percent})
    )


def publish_all(pub: mqtt.Client, messages: list[tuple[str, bytes]]) -> None:
    infos = [pub.publish(topic, payload, qos=1) for topic, payload in messages]
    for info in infos:
        info.wait_for_publish(10)


def agent_rows(service: HubService) -> list[tuple[str, int]]:
    with service.store.locked() as db:
        return [
            (str(e), int(s)) for e, s in db.execute("SELECT epoch, seq FROM events WHERE agent = ?", (AGENT,))
        ]


def kinds(service: HubService) -> list[str]:
    return [s.kind for s in service.store.read()]


# finding 1 -------------------------------------------------------------------------------------
def test_a_poison_integer_is_quarantined_alone_and_its_batch_is_stored(
    hub: HubService, feed: AgentFeed, pub: mqtt.Client
) -> None:
    topic, good = battery(feed)
    doc = good.decode()
    poison = doc.replace('"percent":80', '"percent":' + "9" * 5000).encode()  # int() refuses > 4,300 digits
    messages = [battery(feed) for _ in range(40)] + [(topic, poison)] + [battery(feed) for _ in range(40)]
    publish_all(pub, [(topic, good), *messages])
    assert wait_until(lambda: len(agent_rows(hub)) == 81, 15), len(agent_rows(hub))
    assert wait_until(lambda: hub.store.quarantine_counts() == {"malformed": 1}, 5), (
        hub.store.quarantine_counts()
    )
    assert "ingest.gap" not in kinds(hub)
    (row,) = hub.store.quarantine_rows()
    assert "digits" in row["reason"] or "integer" in row["reason"]


# finding 2 (poison file headers) ---------------------------------------------------------------
def test_file_messages_that_cannot_be_verified_never_stall_the_ingest(
    hub: HubService, feed: AgentFeed, pub: mqtt.Client
) -> None:
    header = {"v": 1, "center": CENTER, "agent": AGENT, "path": "snapshots/cam-1/a.jpg", "ts": 2**60,
              "size": 1, "sha256": "0" * 64, "sig": "0" * 64}  # fmt: skip
    # no canonical form (ts beyond 2**53): the signature check itself cannot run
    raw = json.dumps(header).encode() + b"\n" + b"\xff"
    files_topic = f"casewatch/{CENTER}/{AGENT}/files"
    publish_all(pub, [(files_topic, raw)] * 30)  # Mosquitto's in-flight window is 20
    publish_all(pub, [battery(feed) for _ in range(5)])
    assert wait_until(lambda: len(agent_rows(hub)) == 5, 15), "ingest stalled behind unacknowledged files"
    assert wait_until(lambda: hub.agent_files.counters["files_rejected"] == 30, 5), hub.agent_files.counters


# finding 5 -------------------------------------------------------------------------------------
def test_a_reset_outbox_is_recorded_raised_and_its_events_stored(
    hub: HubService, feed: AgentFeed, pub: mqtt.Client
) -> None:
    publish_all(pub, [battery(feed) for _ in range(10)])
    assert wait_until(lambda: len(agent_rows(hub)) == 10, 10)
    fresh = AgentFeed(feed.key_text, epoch=EPOCH_B)  # the box's outbox file was lost: seq 1 again
    publish_all(pub, [battery(fresh) for _ in range(5)])
    assert wait_until(lambda: len(agent_rows(hub)) == 15, 10), agent_rows(hub)
    assert sorted(agent_rows(hub)) == sorted(
        [(EPOCH_A, s) for s in range(1, 11)] + [(EPOCH_B, s) for s in range(1, 6)]
    )
    (reset,) = [json.loads(s.body) for s in hub.store.read() if s.kind == "ingest.reset"]
    assert reset["data"] == {"agent": AGENT, "epoch": EPOCH_B, "first_seq": 1, "previous_epoch": EPOCH_A,
                             "previous_highest": 10}  # fmt: skip
    assert wait_until(lambda: [a.rule for a in hub.derived.alerts(limit=10)] == ["INGEST-RESET"], 5)
    assert hub.derived.alerts(limit=10)[0].level == "red"
    assert not hub.store.gaps()


def test_a_new_agents_lost_first_batch_is_a_gap_and_raises_data_loss(
    hub: HubService, feed: AgentFeed, pub: mqtt.Client
) -> None:
    for _ in range(4):  # seq 1..4 never arrive
        feed.event("band.battery", int(time.time() * 1000), {"band": "B1"}, {"percent": 80})
    publish_all(pub, [battery(feed) for _ in range(3)])
    assert wait_until(lambda: len(agent_rows(hub)) == 3, 10)
    assert not hub.store.gaps()  # they may still come: the agent sends again until confirmed
    stats = {"uptime_s": 1.0, "outbox_depth": 3, "outbox_first_seq": 5}  # its outbox starts at 5
    publish_all(
        pub, [feed.message(feed.event("agent.stats", int(time.time() * 1000), {}, stats, source=AGENT))]
    )
    assert wait_until(lambda: len(hub.store.gaps()) == 1, 10)
    (gap,) = hub.store.gaps()
    assert (gap.agent, gap.epoch, gap.first, gap.last) == (AGENT, EPOCH_A, 1, 4)
    assert wait_until(lambda: [a.rule for a in hub.derived.alerts(limit=10)] == ["INGEST-LOSS"], 5)

    legacy = AgentFeed(feed.key_text, agent=AGENT, start_seq=3)  # an agent without epochs: at once
    publish_all(pub, [battery(AgentFeed(legacy.key_text)), battery(legacy)])
    assert wait_until(lambda: len(hub.store.gaps()) == 2, 10)
    assert (hub.store.gaps()[1].epoch, hub.store.gaps()[1].first, hub.store.gaps()[1].last) == ("", 2, 2)


# receipts --------------------------------------------------------------------------------------
def test_each_commit_sends_the_agent_a_signed_receipt(
    hub: HubService, feed: AgentFeed, pub: mqtt.Client, mqtt_broker: Any
) -> None:
    receipts = Collector(mqtt_broker.host, mqtt_broker.port).subscribe(f"casewatch/{CENTER}/{AGENT}/receipt")
    publish_all(pub, [battery(feed) for _ in range(25)])
    keys = Keyring({AGENT: feed.key})

    def last() -> Any:
        fresh = [m for m in receipts.messages if m[1] and not m[2]]  # retained ones: earlier tests
        return decode_receipt(fresh[-1][1], keys, center=CENTER, agent=AGENT) if fresh else None

    assert wait_until(lambda: last() is not None and last().seq == 25, 10)
    assert last().epoch == EPOCH_A
    # a redelivery of what is stored is answered with the receipt again
    receipts.messages.clear()
    publish_all(
        pub,
        [feed.message(feed.event("band.battery", int(time.time() * 1000), {"band": "B1"}, {"percent": 1}))],
    )
    assert wait_until(lambda: last() is not None and last().seq == 26, 10)
    receipts.close()


# findings 2 and 6: a full disk, a failed save ------------------------------------------------------
def test_a_full_disk_stops_the_ingest_visibly_and_it_resumes_without_a_false_gap(
    hub: HubService, feed: AgentFeed, pub: mqtt.Client, mqtt_broker: Any
) -> None:
    status = Collector(mqtt_broker.host, mqtt_broker.port).subscribe(f"casewatch/{CENTER}/hub/status")
    publish_all(pub, [battery(feed) for _ in range(5)])
    assert wait_until(lambda: len(agent_rows(hub)) == 5, 10)
    with hub.store.locked() as db:  # SQLite's page limit: the next page it needs is "disk full"
        pages = int(db.execute("PRAGMA page_count").fetchone()[0])
        db.execute(f"PRAGMA max_page_count = {pages}")
    topic = feed.layout.events(CENTER, AGENT, "band.battery")
    publish_all(pub, [(topic, b'{"pad": "' + b"x" * 3000 + b'"}')] * 3)  # quarantine needs pages too
    publish_all(pub, [battery(feed) for _ in range(200)])
    assert wait_until(lambda: hub.fault is not None, 10), "the failed commit was not reported"
    assert hub.http is not None
    health = httpx.get(f"{hub.http.url}/api/v1/health", timeout=5).json()
    assert health["status"] == "degraded" and "full" in health["fault"]["reason"]
    metrics = httpx.get(f"{hub.http.url}/api/v1/metrics", timeout=5).text
    assert 'casewatch_hub_degraded{stage="commit"} 1' in metrics and "casewatch_hub_up 0" in metrics
    assert wait_until(lambda: any(p.startswith(b"degraded") for _t, p, _r in status.messages), 5)
    with pytest.raises(Exception, match="存储故障"):
        hub.record(
            "person.release", {"person": "p1"}, {"reason": "done"}, by="demo"
        )  # a person's record is refused at once, not lost
    time.sleep(2)  # several retries against the full disk
    assert len(agent_rows(hub)) == 5
    with hub.store.locked() as db:
        db.execute("PRAGMA max_page_count = 1073741823")
    assert wait_until(lambda: len(agent_rows(hub)) == 205, 20), len(agent_rows(hub))
    assert wait_until(lambda: hub.fault is None, 5)
    assert wait_until(lambda: status.messages[-1][1] == b"online", 5)
    assert not hub.store.gaps() and "ingest.gap" not in kinds(hub)
    assert wait_until(lambda: "ingest.stall" in kinds(hub), 5)
    assert hub.store.quarantine_counts() == {"schema": 3}
    assert sorted(s for _e, s in agent_rows(hub)) == list(range(1, 206))  # each once
    assert hub.store.verify().ok
    status.close()


def test_a_failed_save_is_kept_and_saved_once_the_store_takes_it(
    tmp_path: Path, mqtt_broker: Any, feed: AgentFeed, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = start_hub(tmp_path, mqtt_broker, feed)
    failures = {"left": 5}
    real_save = DerivedStore.save

    def failing_save(self: DerivedStore, *args: Any, **kwargs: Any) -> None:
        if failures["left"] > 0:
            failures["left"] -= 1
            raise sqlite3.OperationalError("disk I/O error (injected)")
        real_save(self, *args, **kwargs)

    try:
        monkeypatch.setattr(DerivedStore, "save", failing_save)
        officer = {
            "name": "李四",
            "sex": "male",
            "unit": "u1",
            "roles": ["duty_supervisor"],
            "phone": "13800000000",
        }
        stored = service.record("officer.register", {"officer": "P1001"}, officer, by="admin")
        assert stored.kind == "officer.register"  # committed: the API says created
        assert wait_until(lambda: service.fault is not None or failures["left"] == 0, 5)
        assert wait_until(lambda: failures["left"] == 0 and service.fault is None, 30), service.fault
        with sqlite3.connect(tmp_path / "hub.db") as conn:
            row = conn.execute(
                "SELECT doc FROM projections WHERE kind = 'officer' AND key = 'P1001'"
            ).fetchone()
        assert row is not None and json.loads(row[0])["name"] == "李四"
        assert wait_until(lambda: "ingest.stall" in kinds(service), 5)
    finally:
        service.stop()
    again = start_hub(tmp_path, mqtt_broker, feed)
    try:
        assert "P1001" in again.core.projections.officers  # still there after a restart
        assert again.store.verify().ok
    finally:
        again.stop()


def test_canonical_bytes_refuse_what_the_poison_tests_send() -> None:
    """The poison above is poison because no canonical form exists (the protocol's own rule)."""
    with pytest.raises(ValueError):
        canonical_bytes({"ts": 2**60})


# one writer ----------------------------------------------------------------------------------------
def test_every_write_to_the_store_happens_on_the_ingest_thread(
    hub: HubService, feed: AgentFeed, pub: mqtt.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 15 finding 7: the store has one writer. Records, a notification's delivery attempt, an
    account made from an API thread and connect-time work all write on ``hub-ingest``."""
    import threading

    from hub.accounts import Account
    from hub.store import HubStore

    writers: list[str] = []
    real = HubStore.transaction

    def watched(self: HubStore) -> Any:
        writers.append(threading.current_thread().name)
        return real(self)

    monkeypatch.setattr(HubStore, "transaction", watched)
    admin = {"name": "王五", "sex": "male", "unit": "u1", "roles": ["admin"]}
    hub.record("officer.register", {"officer": "P9001"}, admin, by="admin")
    feed.event("band.battery", int(time.time() * 1000), {"band": "B1"}, {"percent": 80})  # seq 1 lost
    stats = {"uptime_s": 1.0, "outbox_depth": 1, "outbox_first_seq": 2}
    stats_event = feed.event("agent.stats", int(time.time() * 1000), {}, stats, source=AGENT)
    publish_all(pub, [battery(feed), feed.message(stats_event)])  # a gap: INGEST-LOSS red, to P9001
    assert wait_until(lambda: hub.notifier.store.counts().get("sent", 0) >= 1, 10), (
        hub.notifier.store.counts()
    )
    made = Account("ops1", None, "viewer", "pbkdf2_sha256$1$x$y", False, "console")
    assert hub.accounts.create(made, by="admin", now_ms=int(time.time() * 1000))  # from this thread
    assert hub.link is not None
    hub._on_connected()  # as paho would call it
    assert wait_until(lambda: len(writers) >= 4, 5)
    assert set(writers) == {"hub-ingest"}, writers


# receipts never pass a hole (review) ---------------------------------------------------------------
def test_a_receipt_never_confirms_past_a_hole_until_the_agent_says_it_is_gone(
    hub: HubService, feed: AgentFeed, pub: mqtt.Client, mqtt_broker: Any
) -> None:
    receipts = Collector(mqtt_broker.host, mqtt_broker.port).subscribe(f"casewatch/{CENTER}/{AGENT}/receipt")
    keys = Keyring({AGENT: feed.key})

    def last() -> int:
        fresh = [m for m in receipts.messages if m[1] and not m[2]]
        return decode_receipt(fresh[-1][1], keys, center=CENTER, agent=AGENT).seq if fresh else -1

    sent = [battery(feed) for _ in range(5)]  # 1..5
    held = [battery(feed) for _ in range(2)]  # 6, 7: a broker dropped them; the agent still has them
    publish_all(pub, [*sent, *[battery(feed) for _ in range(3)]])  # 1..5, 8..10
    assert wait_until(lambda: len(agent_rows(hub)) == 8, 10)
    time.sleep(0.5)
    assert last() == 5  # not 10: the agent would delete 6 and 7, which the hub never stored
    publish_all(pub, held)  # the agent sends them again
    assert wait_until(lambda: last() == 10, 10), last()
    # a hole the agent can no longer fill: its stats say its outbox starts at 14
    for _ in range(3):  # 11..13 shed by the agent
        feed.event("band.battery", int(time.time() * 1000), {"band": "B1"}, {"percent": 80})
    stats = {"uptime_s": 9.0, "outbox_depth": 0, "outbox_first_seq": 14}
    publish_all(
        pub, [feed.message(feed.event("agent.stats", int(time.time() * 1000), {}, stats, source=AGENT))]
    )
    assert wait_until(lambda: last() == 14, 10), last()
    assert [(g.first, g.last) for g in hub.store.gaps()] == [(11, 13)]  # 6, 7 came: no loss
    receipts.close()

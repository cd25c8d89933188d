"""An agent's evidence files reach the hub over MQTT and the console's alert detail links them.

Real parts: the test broker, a real hub (SQLite, uvicorn), and for the sender side the agent's
own uploader with its SQLite queue, over a link that is cut and restored. Forged, misaddressed,
truncated and path-escaping file messages are refused and counted; nothing is written for them.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.uploads import EvidenceUploads
from foundation.mqtt_link import MqttLink
from foundation.settings import MqttSettings
from protocol.clock import SystemClock
from protocol.files import FileError, decode_file, encode_file
from protocol.ids import uuid7
from protocol.signing import Keyring, key_from_text, new_key
from tests.api_helpers import ApiHub, api_hub, now_ms
from tests.mqtt_helpers import Collector
from tests.waiting import wait_until

JPEG = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 40 + b"\xff\xd9"
MP4 = b"\x00\x00\x00\x18ftypmp42" + b"\x01\x02" * 30_000


@pytest.fixture
def hub(tmp_path: Path, mqtt_broker: Any) -> Iterator[ApiHub]:
    with api_hub(tmp_path, mqtt_broker) as running:
        yield running


def test_file_codec_refuses_what_does_not_bind() -> None:
    key = key_from_text(new_key())
    ring = Keyring({"box-01": key})
    good = encode_file("c1", "box-01", "clips/cam-int-1/a.mp4", MP4, key=key, ts=1)
    assert decode_file(good, ring, center="c1", agent="box-01").body == MP4
    bad = {
        "other agent's topic": (good, "box-02"),
        "truncated": (good[:-1], "box-01"),
        "bytes changed": (good[:-1] + b"\x00", "box-01"),
        "no header": (b"x" * 5000, "box-01"),
        "forged": (encode_file("c1", "box-01", "clips/c/a.mp4", MP4, key=b"k" * 32, ts=1), "box-01"),
    }
    for why, (payload, agent) in bad.items():
        with pytest.raises(FileError):
            decode_file(payload, Keyring({"box-01": key, "box-02": key}), center="c1", agent=agent)
        assert why
    with pytest.raises(FileError):  # the sender refuses a path outside the evidence folders
        encode_file("c1", "box-01", "../hub.db", b"", key=key, ts=1)


def _understaffed(hub: ApiHub, snapshot: str, clip_id: str) -> dict[str, Any]:
    """A condition.start whose hold passed already (started 2 min ago): INT-TWO is raised at once."""
    facts = {"persons": 2, "detainees": 1, "officers": 1, "required_officers": 2, "cameras": ["cam-int-1"]}
    start = hub.feed.event(
        "condition.start", now_ms() - 120_000, {"room": "int-1"},
        {"condition": "understaffed", "condition_id": uuid7(now_ms()), "facts": facts,
         "evidence": {"snapshot": snapshot, "clip_id": clip_id}},
        source="box-01",
    )  # fmt: skip
    return start  # type: ignore[return-value]


def test_files_arrive_are_checked_and_are_linked_from_the_alert(hub: ApiHub, mqtt_broker: Any) -> None:
    viewer = hub.client("viewer")
    publisher = Collector(mqtt_broker.host, mqtt_broker.port)
    clip_id = uuid7(now_ms())
    snapshot, clip = "snapshots/cam-int-1/20261201T101010.123Z.jpg", f"clips/cam-int-1/{clip_id}.mp4"
    publisher.publish(*hub.feed.message(_understaffed(hub, snapshot, clip_id)))  # type: ignore[arg-type]
    assert wait_until(lambda: viewer.get("/api/v1/alerts", params={"rule": "INT-TWO"}).json(), timeout_s=10)
    (alert,) = viewer.get("/api/v1/alerts", params={"rule": "INT-TWO"}).json()

    def files() -> list[dict[str, Any]]:
        detail = viewer.get(f"/api/v1/alerts/{alert['id']}").json()
        return [f for e in detail["evidence"] for f in e["files"]]

    assert [(f["kind"], f["url"]) for f in files()] == [("snapshot", None), ("clip", None)]  # not yet

    topic = hub.feed.layout.files("c1", "box-01")
    key = hub.feed.key
    publisher.publish(topic, encode_file("c1", "box-01", snapshot, JPEG, key=key, ts=now_ms()))
    publisher.publish(topic, encode_file("c1", "box-01", clip, MP4, key=key, ts=now_ms()))
    # refused: a forged copy, one published on another agent's topic, and a changed byte
    publisher.publish(topic, encode_file("c1", "box-01", snapshot, b"forged", key=b"x" * 32, ts=1))
    other = hub.feed.layout.files("c1", "box-02")
    publisher.publish(other, encode_file("c1", "box-01", "clips/cam-int-1/b.mp4", MP4, key=key, ts=1))
    changed = encode_file("c1", "box-01", "snapshots/cam-int-1/x.jpg", JPEG, key=key, ts=1)
    publisher.publish(topic, changed[:-1] + b"\x00")
    counters = hub.service.agent_files.counters
    assert wait_until(lambda: counters["files_stored"] == 2 and counters["files_rejected"] == 3, timeout_s=10)
    assert counters == {"files_stored": 2, "files_rejected": 3, "files_errors": 0}

    assert wait_until(lambda: all(f["url"] for f in files()), timeout_s=5)
    by_kind = {f["kind"]: f for f in files()}
    assert by_kind["clip"]["path"] == clip and by_kind["snapshot"]["path"] == snapshot
    got = viewer.get(by_kind["snapshot"]["url"])
    assert got.status_code == 200 and got.content == JPEG and got.headers["content-type"] == "image/jpeg"
    video = viewer.get(by_kind["clip"]["url"])
    assert video.content == MP4 and video.headers["content-type"] == "video/mp4"
    ranged = viewer.get(by_kind["clip"]["url"], headers={"Range": "bytes=0-99"})  # a player seeking
    assert ranged.status_code == 206 and ranged.content == MP4[:100]
    kept = hub.service.agent_files.folder / "box-01"
    assert sorted(p.relative_to(kept).as_posix() for p in kept.rglob("*") if p.is_file()) == sorted(
        [snapshot, clip]
    )
    assert hub.anonymous().get(by_kind["clip"]["url"]).status_code == 401
    assert viewer.get("/api/v1/files/box-01/clips/cam-int-1/none.mp4").status_code == 404
    assert viewer.get("/api/v1/files/box-01/..%2F..%2Fhub.db").status_code == 404


def test_agent_uploader_survives_an_outage_and_a_restart(tmp_path: Path, mqtt_broker: Any) -> None:
    """The agent's queue: files queued while the broker is away go when it is back, oldest first;
    what is queued survives the process; a pruned file is dropped with a counted reason."""
    key_text = new_key()
    root = tmp_path / "data"
    (root / "clips" / "cam-1").mkdir(parents=True)
    paths = []
    for i in range(3):
        path = f"clips/cam-1/{uuid7(now_ms())}.mp4"
        (root / path).write_bytes(MP4 + bytes([i]))
        paths.append(path)
        time.sleep(0.002)
    receiver = Collector(mqtt_broker.host, mqtt_broker.port).subscribe("casewatch/c1/box-01/files")

    def uploader(port: int) -> EvidenceUploads:
        settings = MqttSettings(host="127.0.0.1", port=port, keepalive_s=5)
        link = MqttLink(settings, "box-01-files", None)
        return EvidenceUploads(
            root, root / "uploads.db", link, "casewatch/c1/box-01/files", center="c1", agent="box-01",
            key=key_from_text(key_text), clock=SystemClock(), max_bytes=1_000_000, ack_timeout_s=3,
        )  # fmt: skip

    dead = uploader(1).start()  # nothing listens on port 1: queued, not sent
    for path in paths:
        dead.add(path)
    dead.add("snapshots/cam-1/gone.jpg")
    time.sleep(1.5)
    assert dead.pending() == 4 and dead.counters["uploads_sent"] == 0
    dead.stop()

    live = uploader(mqtt_broker.port).start()  # a restart: the queue is read back from SQLite
    try:
        assert wait_until(lambda: live.pending() == 0, timeout_s=15), live.pending()
        assert live.counters["uploads_sent"] == 3 and live.counters["uploads_dropped"] == 1
    finally:
        live.stop()
    assert wait_until(lambda: len(receiver.messages) == 3, timeout_s=5)
    ring = Keyring({"box-01": key_from_text(key_text)})
    got = [decode_file(p, ring, center="c1", agent="box-01") for _, p, _ in receiver.messages]
    assert [f.path for f in got] == paths
    assert [hashlib.sha256(f.body).hexdigest() for f in got] == [
        hashlib.sha256((root / p).read_bytes()).hexdigest() for p in paths
    ]

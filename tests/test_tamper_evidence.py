"""Tamper evidence that holds (issue 16): ``hub verify`` on a store of real signed events, as an
attacker with write access to the store file would leave it — every column, recomputed chains, cut
tails with a rewritten head, forged signatures, wiped or missing files — against anchors kept off
the hub's disk (an agent's copy, a daily report)."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import time
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml

from hub.chain import AnchorPoint
from hub.errors import StoreError
from hub.own_records import HubRecords
from hub.store import Batch, HubStore, Incoming, SeqGap
from hub.verify_file import verify_file
from protocol.anchor import AnchorError, anchors_in_text, make_anchor, read_anchor
from protocol.clock import ManualClock
from protocol.registry import HUB_IDENTITY
from protocol.signing import Keyring, key_from_text, new_key
from tests.agent_process import CASEWATCH
from tests.hub_helpers import CENTER, AgentFeed, hub_config
from tests.secret_files import write_secret
from tests.store_helpers import link_by_hand, tamper

T0 = 1_767_225_600_000
ROWS = 2000


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CASEWATCH, *args], capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture(scope="module")
def signed_store(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """2,000 events signed by two agents and the hub's own records, stored as ingest stores them,
    with the hub's config (keys) beside it."""
    workdir = tmp_path_factory.mktemp("signed")
    feeds = [AgentFeed(), AgentFeed(agent="box-02", epoch="0123456789abcdef")]
    config = hub_config(workdir, None, agent_key=feeds[0].key_text)
    data = yaml.safe_load(config.read_text())
    write_secret(workdir / "agent2.key", feeds[1].key_text)
    data["agents"].append({"id": "box-02", "key_file": "agent2.key"})
    config.write_text(yaml.safe_dump(data, allow_unicode=True))
    hub_key = key_from_text((workdir / "hub.key").read_text())
    own = HubRecords(center=CENTER, key=hub_key, clock=ManualClock(T0), next_seq=1)
    rows: list[Incoming] = []
    for n in range(ROWS):
        if n % 100 == 99:
            rows.append(own.gap(SeqGap("box-01", n, n, T0 + n)))
            continue
        feed = feeds[n % 2]
        event = feed.event("band.vitals", T0 + n, {"band": f"B{n % 7}"}, {"heart_rate": 60 + n % 40})
        rows.append(
            Incoming(
                event.agent,
                event.seq,
                event.id,
                event.kind,
                event.ts,
                T0 + n + 3,
                event.canonical(),
                band=event.subject.band,
                epoch=event.epoch or "",
            )
        )
    streams: dict[tuple[str, str], int] = {}
    for row in rows:  # what the hub records as each sender's complete point (agent_streams)
        streams[(row.agent, row.epoch)] = max(streams.get((row.agent, row.epoch), 1), row.seq + 1)
    with HubStore(workdir / "hub.db") as store:
        for first in range(0, ROWS, 250):
            store.write(Batch(events=rows[first : first + 250], streams=streams))
        head = store.head()
    anchor = make_anchor(CENTER, head[0], head[1], T0 + ROWS, hub_key).decode()
    return {"dir": workdir, "config": config, "hub_key": hub_key, "anchor": anchor, "feeds": feeds}


@pytest.fixture
def copy(signed_store: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    """The signed store and its config in a fresh folder (each test edits its own)."""
    for name in ("hub.db", "hub.yaml", "hub.key", "agent.key", "agent2.key"):
        shutil.copy(signed_store["dir"] / name, tmp_path / name)  # with its mode: keys stay 0600
    config = yaml.safe_load((tmp_path / "hub.yaml").read_text())
    config["store"]["path"] = str(tmp_path / "hub.db")
    (tmp_path / "hub.yaml").write_text(yaml.safe_dump(config, allow_unicode=True))
    (tmp_path / "anchor.jsonl").write_text(signed_store["anchor"] + "\n")
    keyring = Keyring({"box-01": signed_store["feeds"][0].key, "box-02": signed_store["feeds"][1].key})
    keyring.add(HUB_IDENTITY, signed_store["hub_key"])
    return {**signed_store, "db": tmp_path / "hub.db", "config": tmp_path / "hub.yaml",
            "anchors": tmp_path / "anchor.jsonl", "keyring": keyring}  # fmt: skip


def recompute_from(db: Path, first: int) -> None:
    """What an attacker with the store but without any key does after an edit: every hash from
    ``first`` on recomputed, and the recorded head rewritten, so the chain checks out again."""
    conn = sqlite3.connect(db)
    prev = conn.execute("SELECT hash FROM events WHERE pos = ?", (first - 1,)).fetchone()
    prev_hash = prev[0] if prev else "0" * 64
    rows = conn.execute(
        "SELECT pos, body, received_ms FROM events WHERE pos >= ? ORDER BY pos", (first,)
    ).fetchall()
    with conn:
        for pos, body, received in rows:
            new = link_by_hand(prev_hash, body, received)
            conn.execute("UPDATE events SET prev_hash = ?, hash = ? WHERE pos = ?", (prev_hash, new, pos))
            prev_hash = new
        conn.execute("UPDATE meta SET value = ? WHERE key = 'head_hash'", (prev_hash,))
    conn.close()


def forge_row(db: Path, pos: int) -> None:
    """Row ``pos``'s heart rate changed, every column kept consistent, the chain recomputed."""
    conn = sqlite3.connect(db)
    (body,) = conn.execute("SELECT body FROM events WHERE pos = ?", (pos,)).fetchone()
    with conn:
        conn.execute(
            "UPDATE events SET body = ? WHERE pos = ?",
            (body.replace(b'"heart_rate":', b'"heart_rate":1'), pos),
        )
    conn.close()
    recompute_from(db, pos)


def test_the_intact_store_checks_out_with_every_signature(copy: dict[str, Any]) -> None:
    anchor = read_anchor(copy["anchor"], copy["keyring"], CENTER)
    report = verify_file(
        copy["db"], keyring=copy["keyring"], anchors=[AnchorPoint(anchor.pos, anchor.hash, "a")]
    )
    assert report.ok and report.rows == ROWS and report.signatures_checked == ROWS
    assert report.anchors_checked == 1
    done = run("hub", "verify", "--config", str(copy["config"]), "--anchor", str(copy["anchors"]))
    assert done.returncode == 0, done.stderr
    assert f"{ROWS} events, {ROWS} signatures, 1 anchors" in done.stdout


def test_a_forged_event_with_a_recomputed_chain_fails_its_signature(copy: dict[str, Any]) -> None:
    forge_row(copy["db"], 1501)  # an event of box-02 (every 100th row is a hub record)
    assert verify_file(copy["db"]).ok  # without keys the chain alone cannot tell
    report = verify_file(copy["db"], keyring=copy["keyring"])
    assert (report.ok, report.first_broken, report.rows) == (False, 1501, 1500)
    assert "signature does not check out" in str(report.reason)
    done = run("hub", "verify", "--config", str(copy["config"]))
    assert done.returncode == 1 and "1501" in done.stderr and "rows 1–1500 intact" in done.stderr


def forge_signed(copy: dict[str, Any], pos: int) -> None:
    """Row ``pos`` (one of box-02's events: even positions) re-signed with box-02's key after an
    edit, and the chain recomputed: what an attacker holding the store and an agent's key can do."""
    import json

    from protocol.canonical import canonical_bytes
    from protocol.signing import signed

    assert pos % 2 == 0 and pos % 100
    conn = sqlite3.connect(copy["db"])
    (body,) = conn.execute("SELECT body FROM events WHERE pos = ?", (pos,)).fetchone()
    conn.close()
    doc = json.loads(body)
    assert doc["agent"] == "box-02"
    doc["data"]["heart_rate"] = 150
    forged = canonical_bytes(signed(doc, copy["feeds"][1].key))
    tamper(copy["db"], "UPDATE events SET body = ? WHERE pos = ?", forged, pos)
    recompute_from(copy["db"], pos)


def test_a_recomputed_chain_is_caught_by_an_anchor(copy: dict[str, Any]) -> None:
    """An attacker who also holds an agent's key re-signs the event: only the anchor tells."""
    forge_signed(copy, 1002)
    assert verify_file(copy["db"], keyring=copy["keyring"]).ok  # every row and signature checks out
    done = run("hub", "verify", "--config", str(copy["config"]), "--anchor", str(copy["anchors"]))
    assert done.returncode == 1
    assert f"rows 1–{ROWS} were rewritten after the anchor" in done.stderr and "recomputed" in done.stderr


def test_a_cut_tail_with_the_head_rewritten_is_caught_by_an_anchor(copy: dict[str, Any]) -> None:
    conn = sqlite3.connect(copy["db"])
    (kept,) = conn.execute("SELECT hash FROM events WHERE pos = 1800").fetchone()
    with conn:
        conn.execute("DELETE FROM events WHERE pos > 1800")
        conn.execute("UPDATE meta SET value = '1800' WHERE key = 'head_pos'")
        conn.execute("UPDATE meta SET value = ? WHERE key = 'head_hash'", (kept,))
    conn.close()
    assert verify_file(copy["db"], keyring=copy["keyring"]).ok  # the store alone agrees with itself
    done = run("hub", "verify", "--config", str(copy["config"]), "--anchor", str(copy["anchors"]))
    assert done.returncode == 1
    assert f"rows after 1800 are missing: the anchor from anchor.jsonl #1 names row {ROWS}" in done.stderr


def test_a_deleted_row_with_the_chain_recomputed_leaves_a_hole_in_its_senders_numbers(
    copy: dict[str, Any],
) -> None:
    """The review's case: a row deleted, the later ones renumbered, every hash and the head
    recomputed — no key needed, and the chain checks out row by row."""
    conn = sqlite3.connect(copy["db"])
    agent, seq = conn.execute("SELECT agent, seq FROM events WHERE pos = 15").fetchone()
    with conn:
        conn.execute("DELETE FROM events WHERE pos = 15")
        conn.execute("UPDATE events SET pos = -(pos - 1) WHERE pos > 15")
        conn.execute("UPDATE events SET pos = -pos WHERE pos < 0")
        conn.execute("UPDATE meta SET value = ? WHERE key = 'head_pos'", (str(ROWS - 1),))
    conn.close()
    recompute_from(copy["db"], 15)
    report = verify_file(copy["db"])
    assert (
        not report.ok and f"{agent}" in str(report.reason) and f"seq {seq} is missing" in str(report.reason)
    )
    assert "no ingest.gap record" in str(report.reason)


def test_a_missing_recorded_head_is_named(copy: dict[str, Any]) -> None:
    tamper(copy["db"], "DELETE FROM events WHERE pos > 1900")
    tamper(copy["db"], "DELETE FROM meta WHERE key IN ('head_pos', 'head_hash')")
    report = verify_file(copy["db"])
    assert (report.ok, report.first_broken) == (False, 1901) and "head recorded in meta is missing" in str(
        report.reason
    )


def test_a_deleted_row_is_named(copy: dict[str, Any]) -> None:
    tamper(copy["db"], "DELETE FROM events WHERE pos = 777")
    done = run("hub", "verify", "--config", str(copy["config"]))
    assert done.returncode == 1 and "row 777 is missing" in done.stderr


@pytest.mark.parametrize(
    "column, value",
    [("agent", "box-03"), ("seq", 9999), ("id", "0190a6b0-0000-7000-8000-000000000000"),
     ("kind", "band.position"), ("ts", 0), ("epoch", "feedfacefeedface"), ("person", "P-1"),
     ("band", "B99"), ("received_ms", 1)],
)  # fmt: skip
def test_each_column_edited_alone_is_named(copy: dict[str, Any], column: str, value: object) -> None:
    tamper(copy["db"], f"UPDATE events SET {column} = ? WHERE pos = 1234", value)
    report = verify_file(copy["db"], keyring=copy["keyring"])
    assert (report.ok, report.first_broken) == (False, 1234), report
    assert (column in str(report.reason)) or ("received_ms" in str(report.reason)), report.reason


def test_verify_never_creates_or_migrates_a_store(tmp_path: Path, copy: dict[str, Any]) -> None:
    config = yaml.safe_load(copy["config"].read_text())
    missing = tmp_path / "gone" / "hub.db"
    config["store"]["path"] = str(missing)
    copy["config"].write_text(yaml.safe_dump(config))
    done = run("hub", "verify", "--config", str(copy["config"]))
    assert done.returncode == 1 and "does not exist" in done.stderr
    assert not missing.exists() and not missing.parent.exists()
    for content, says in [(b"", "0 bytes"), (b"not a database at all" * 100, "cannot be read")]:
        missing.parent.mkdir(exist_ok=True)
        missing.write_bytes(content)
        done = run("hub", "verify", "--config", str(copy["config"]))
        assert done.returncode == 1 and says in done.stderr, done.stderr
        assert missing.read_bytes() == content  # untouched


def test_a_truncated_or_foreign_file_is_refused(copy: dict[str, Any], tmp_path: Path) -> None:
    data = copy["db"].read_bytes()
    cut = tmp_path / "cut.db"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(StoreError, match=r"truncated or damaged|cannot be read"):
        verify_file(cut)
    foreign = tmp_path / "other.db"
    sqlite3.connect(foreign).execute("CREATE TABLE t (x)").connection.close()
    with pytest.raises(StoreError, match="no casewatch schema"):
        verify_file(foreign)


def test_an_empty_store_fails_unless_allowed(copy: dict[str, Any]) -> None:
    copy["db"].unlink()
    HubStore(copy["db"]).close()  # a new hub's store: the schema, no events
    done = run("hub", "verify", "--config", str(copy["config"]))
    assert done.returncode == 1 and "no events" in done.stderr
    done = run("hub", "verify", "--config", str(copy["config"]), "--allow-empty")
    assert done.returncode == 0 and "0 events" in done.stdout


def test_anchors_not_signed_by_this_hub_are_refused(copy: dict[str, Any], tmp_path: Path) -> None:
    other = make_anchor(CENTER, 5, "ab" * 32, T0, key_from_text(new_key())).decode()
    with pytest.raises(AnchorError, match="signature"):
        read_anchor(other, copy["keyring"], CENTER)
    elsewhere = make_anchor("c9", 5, "ab" * 32, T0, copy["hub_key"]).decode()
    with pytest.raises(AnchorError, match="centre 'c9'"):
        read_anchor(elsewhere, copy["keyring"], CENTER)
    forged = tmp_path / "forged.jsonl"
    forged.write_text(other + "\n")
    done = run("hub", "verify", "--config", str(copy["config"]), "--anchor", str(forged))
    assert done.returncode == 1 and "signature" in done.stderr
    assert copy["hub_key"].decode() not in done.stderr + done.stdout
    empty = tmp_path / "empty.txt"
    empty.write_text("nothing here\n")
    done = run("hub", "verify", "--config", str(copy["config"]), "--anchor", str(empty))
    assert done.returncode == 1 and "no anchor in it" in done.stderr


def test_daily_reports_carry_an_anchor_that_verify_reads(copy: dict[str, Any], tmp_path: Path) -> None:
    from foundation.configfile import load_config
    from hub.config import HubConfig
    from hub.report_source import render
    from hub.reports import period_of
    from hub.service import HubService

    service = HubService(load_config(copy["config"], HubConfig), copy["config"].parent).open()
    try:
        period = period_of("daily", date(2026, 1, 1), "Asia/Shanghai")
        for fmt in ("html", "csv", "pdf"):
            (tmp_path / f"report.{fmt}").write_bytes(render(service, period, fmt))
    finally:
        service.store.close()
    for fmt in ("html", "csv", "pdf"):
        found = anchors_in_text((tmp_path / f"report.{fmt}").read_bytes().decode("latin-1"))
        assert len(found) == 1 and read_anchor(found[0], copy["keyring"], CENTER).pos == ROWS, fmt
        done = run(
            "hub", "verify", "--config", str(copy["config"]), "--anchor", str(tmp_path / f"report.{fmt}")
        )
        assert done.returncode == 0 and "1 anchors" in done.stdout, (fmt, done.stderr)
    forge_signed(copy, 12)
    for fmt in ("html", "pdf"):
        done = run(
            "hub", "verify", "--config", str(copy["config"]), "--anchor", str(tmp_path / f"report.{fmt}")
        )
        assert done.returncode == 1 and f"report.{fmt} #1" in done.stderr and "rewritten" in done.stderr


def test_the_hub_publishes_anchors_that_an_agent_keeps_and_verify_reads(
    tmp_path: Path, mqtt_broker: Any
) -> None:
    """Live: the hub's retained anchor follows its log; the real agent keeps it in its outbox file;
    ``casewatch anchors`` prints it and ``hub verify --anchor`` checks the log against it."""
    from foundation.configfile import load_config
    from hub.config import HubConfig
    from hub.service import HubService
    from protocol.topics import TopicLayout
    from tests.agent_process import AgentProcess, agent_config
    from tests.mqtt_helpers import Collector
    from tests.waiting import wait_until

    feed = AgentFeed()
    hub_dir, agent_dir = tmp_path / "hub", tmp_path / "agent"
    hub_dir.mkdir()
    agent_dir.mkdir()
    mqtt = {"host": "127.0.0.1", "port": mqtt_broker.port, "keepalive_s": 5, "client_id": "hub-anchor"}
    store = {"path": str(hub_dir / "hub.db"), "synchronous": "NORMAL", "anchor_every_s": 5}
    config = hub_config(hub_dir, mqtt_broker.port, agent_key=feed.key_text, rules=[], mqtt=mqtt, store=store)
    topic = TopicLayout().hub_anchor(CENTER)
    watcher = Collector(mqtt_broker.host, mqtt_broker.port).subscribe(topic)
    service = HubService(load_config(config, HubConfig), hub_dir).start()
    agent = None
    try:
        assert service.ready.wait(15)
        now = service.clock.now_ms()  # the hub refuses events older than ingest.max_age_h
        for n in range(5):
            watcher.publish(
                *feed.message(feed.event("band.vitals", now + n, {"band": "B1"}, {"heart_rate": 70}))
            )
        assert wait_until(lambda: service.store.head()[0] == 5, 15)
        hub_key = key_from_text((hub_dir / "hub.key").read_text())
        keyring = Keyring({HUB_IDENTITY: hub_key})

        def anchored() -> bool:  # the shared broker may hold other tests' hubs' anchors: not ours
            for _topic, payload, _retained in list(watcher.messages):
                try:
                    if read_anchor(payload, keyring, CENTER).pos == 5:
                        return True
                except AnchorError:
                    continue
            return False

        assert wait_until(anchored, 15)
        registry_key = run("hub", "registry-key", "--config", str(config)).stdout.strip()
        assert len(registry_key) == 64 and registry_key != (hub_dir / "hub.key").read_text().strip()
        agent_cfg = agent_config(agent_dir, mqtt_broker.port, key=feed.key_text, registry_key=registry_key)
        agent = AgentProcess(agent_cfg, agent_dir / "agent.log").start()
        listed = ""

        def kept() -> bool:
            nonlocal listed
            listed = run("anchors", "--config", str(agent_cfg)).stdout
            return '"pos":5' in listed

        assert wait_until(kept, 20), (agent_dir / "agent.log").read_text()[-2000:]
        # someone on the broker floods forged anchors (signed with a key of their own, dated later):
        # the agent checks their rsig with the registry key and keeps none of them
        forger = key_from_text(new_key())
        for day in range(1, 4):
            forged = make_anchor(CENTER, 99, "ab" * 32, now + day * 60_000, forger)
            watcher.publish(topic, forged, retain=True)
        time.sleep(1.0)
        assert run("anchors", "--config", str(agent_cfg)).stdout == listed
    finally:
        if agent is not None:
            agent.terminate()
        service.stop()
        watcher.publish(topic, b"", retain=True)  # the broker is shared: no retained anchor left
        watcher.close()
    (tmp_path / "from-agent.jsonl").write_text(listed)
    done = run("hub", "verify", "--config", str(config), "--anchor", str(tmp_path / "from-agent.jsonl"))
    assert done.returncode == 0 and "5 events, 5 signatures, 1 anchors" in done.stdout, done.stderr
    conn = sqlite3.connect(hub_dir / "hub.db")
    with conn:  # the tail cut and the head rewritten: the store agrees with itself, not with the agent
        (kept_hash,) = conn.execute("SELECT hash FROM events WHERE pos = 4").fetchone()
        conn.execute("DELETE FROM events WHERE pos = 5")
        conn.execute("UPDATE meta SET value = '4' WHERE key = 'head_pos'")
        conn.execute("UPDATE meta SET value = ? WHERE key = 'head_hash'", (kept_hash,))
    conn.close()
    done = run("hub", "verify", "--config", str(config), "--anchor", str(tmp_path / "from-agent.jsonl"))
    assert done.returncode == 1 and "rows after 4 are missing" in done.stderr

"""Three hub worker processes share 30 centres on PostgreSQL; one is SIGKILLed mid-stream.

Real parts only: a Mosquitto of the test's own, a PostgreSQL database of its own, three
`casewatch hub --worker-id` processes, 30 simulated agents publishing signed QoS 1 events. What
must hold (issue 22): the dead worker's centres are owned again within 30 s; every agent's seq
1..N is stored exactly once; a deadline started before the kill and due after it fires once, on
time, on the new owner.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
import yaml

from hub.passwords import hash_password
from protocol.ids import uuid7
from protocol.signing import new_key
from tests.brokers import Mosquitto, mosquitto_binary
from tests.hub_helpers import AgentFeed
from tests.mqtt_helpers import Collector
from tests.pg_helpers import fresh_database, sql
from tests.secret_files import write_secret
from tests.waiting import wait_until

CASEWATCH = str(Path(sys.executable).parent / "casewatch")
CENTRES = [f"c{n:02d}" for n in range(1, 31)]
EVENTS = 120  # per agent, the deadline's start first
DUE_S = 50
LEASE_S = 6
PASSWORD = "bureau-pass-2026"
HASH = hash_password(PASSWORD)
RULES = f"""
rules:
  - id: T-DUE
    title: 测试时限
    basis: 《测试规定》第1条
    shape: deadline
    key: [data.condition_id]
    start: {{kind: condition.start, where: {{data.condition: unattended}}}}
    stop: {{kind: condition.end, where: {{data.condition: unattended}}}}
    limit: {DUE_S}s
    levels: [{{level: yellow, after: {DUE_S}s}}]
"""

SHOWN = "Array.from(document.querySelectorAll('#alerts tbody tr')).map(r => r.dataset.centre)"

pytestmark = pytest.mark.slow


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    binary = mosquitto_binary()
    assert binary, "Mosquitto is needed (.ci/run installs it)"
    found = Mosquitto(tmp_path / "mosquitto", binary)
    (tmp_path / "mosquitto").mkdir()
    found.start()
    yield found
    found.stop()


def hub_file(tmp_path: Path, dsn: str, port: int, feeds: dict[str, AgentFeed]) -> Path:
    write_secret(tmp_path / "hub.key", new_key())
    centres = []
    for centre, feed in feeds.items():
        write_secret(tmp_path / f"{feed.agent}.key", feed.key_text)
        centres.append({
            "id": centre, "name": f"{centre}派出所办案区", "units": [f"u-{centre}"],
            "rooms": [{"id": "wait-1", "name": "候问室1", "type": "waiting"}],
            "agents": [{"id": feed.agent, "key_file": f"{feed.agent}.key"}],
        })  # fmt: skip
    (tmp_path / "rules.yaml").write_text(RULES)
    users = [
        {"username": "legal", "display_name": "法制大队", "role": "admin", "password_hash": HASH},
        {"username": "station05", "display_name": "c05所", "role": "operator", "password_hash": HASH,
         "centers": ["c05"]},
    ]  # fmt: skip
    config = {
        "center": "county",
        "name": "县局执法办案监督",
        "signing": {"key_file": "hub.key"},
        "store": {"backend": "postgresql", "dsn": dsn, "files": str(tmp_path / "files")},
        "mqtt": {"host": "127.0.0.1", "port": port, "keepalive_s": 5},
        "rules": ["rules.yaml"],
        "workers": {"lease_s": LEASE_S},
        "centers": centres,
        "reports": {"scheduled": False},
        "http": {"port": 0, "session_secret": "s" * 32},
        "users": users,
    }
    path = tmp_path / "hub.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True))
    return path


def leases(dsn: str) -> dict[str, str]:
    now_ms = int(sql(dsn, "SELECT (extract(epoch from clock_timestamp()) * 1000)::bigint")[0][0])  # type: ignore[call-overload]
    rows = sql(dsn, "SELECT center, owner FROM casewatch.leases WHERE expires_ms > %s", now_ms)
    return {str(c): str(o) for c, o in rows}


def online(collector: Collector) -> set[str]:
    found = {}
    for topic, payload, _retained in collector.messages:
        found[topic.split("/")[1]] = payload
    return {c for c, p in found.items() if p == b"online"}


def test_a_killed_worker_s_centres_are_taken_over_and_nothing_is_lost(
    tmp_path: Path, broker: Mosquitto
) -> None:
    feeds = {c: AgentFeed(agent=f"a{c[1:]}", center=c) for c in CENTRES}
    with fresh_database() as dsn:
        config = hub_file(tmp_path, dsn, broker.port, feeds)
        status = Collector(broker.host, broker.port).subscribe("casewatch/+/hub/status")
        logs = {w: (tmp_path / f"{w}.log").open("w") for w in ("w1", "w2", "w3")}
        workers = {
            w: subprocess.Popen(
                [CASEWATCH, "hub", "--config", str(config), "--log-format", "text", "--worker-id", w],
                stdout=logs[w],
                stderr=subprocess.STDOUT,
            )
            for w in logs
        }
        try:
            run_scenario(tmp_path, dsn, broker, feeds, workers, status)
        finally:
            for proc in workers.values():
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
            for proc in workers.values():
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
            for log_file in logs.values():
                log_file.close()


def run_scenario(
    tmp_path: Path, dsn: str, broker: Mosquitto, feeds: dict[str, AgentFeed], workers: dict[str, Any],
    status: Collector,
) -> None:  # fmt: skip
    shared = lambda: sorted(leases(dsn).values()).count  # noqa: E731
    assert wait_until(lambda: len(online(status)) == 30 and all(shared()(w) == 10 for w in workers), 90), (
        leases(dsn),
        sorted(online(status)),
        [(tmp_path / f"{w}.log").read_text()[-2000:] for w in workers],
    )
    pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="agents")
    pub.max_inflight_messages_set(1000)
    pub.connect(broker.host, broker.port)
    pub.loop_start()
    t0 = int(time.time() * 1000)
    cids = {c: uuid7(t0 + n) for n, c in enumerate(CENTRES)}
    sent = []
    for c, feed in feeds.items():  # each agent's first event starts the deadline, due at t0 + DUE_S
        facts = {"detainees": 1, "officers": 0}
        data = {"condition": "unattended", "condition_id": cids[c], "facts": facts}
        start = feed.event("condition.start", t0, {"room": "wait-1"}, data)
        sent.append(pub.publish(*feed.message(start), qos=1))
    victim_name = leases(dsn)["c01"]
    victim = workers[victim_name]
    killed_at = 0.0
    orphans: list[str] = []
    for n in range(2, EVENTS + 1):  # about 12 s of steady traffic, 300 events/s in all
        for feed in feeds.values():
            vitals = feed.event("band.vitals", t0 + n * 100, {"band": "B1"}, {"heart_rate": 60 + n % 40})
            sent.append(pub.publish(*feed.message(vitals), qos=1))
        if n == EVENTS // 3:
            orphans = sorted(c for c, w in leases(dsn).items() if w == victim_name)
            victim.send_signal(signal.SIGKILL)  # mid-stream, its batches in flight
            killed_at = time.monotonic()
        time.sleep(0.1)
    for info in sent:
        info.wait_for_publish(30)
    victim.wait(10)
    assert len(orphans) == 10 and "c01" in orphans

    # owned again within 30 s
    survivors = [w for w in workers if w != victim_name]
    assert wait_until(lambda: len(leases(dsn)) == 30 and set(leases(dsn).values()) <= set(survivors), 40)
    took_s = time.monotonic() - killed_at
    assert took_s < 30, took_s
    print(f"failover: {len(orphans)} centres of {victim_name} owned again {took_s:.1f} s after SIGKILL")

    # every agent's seq 1..N exactly once
    def stored(c: str) -> list[int]:
        return [int(s) for (s,) in sql(dsn, f"SELECT seq FROM cw_{c}.events WHERE agent = %s ORDER BY seq",  # type: ignore[call-overload]
                                        feeds[c].agent)]  # fmt: skip

    assert wait_until(lambda: all(len(stored(c)) >= EVENTS for c in CENTRES), 90), {
        c: len(stored(c)) for c in CENTRES
    }
    for c in CENTRES:
        assert stored(c) == list(range(1, EVENTS + 1)), c
        assert not sql(dsn, f"SELECT 1 FROM cw_{c}.gaps")

    # the deadline fires once, on time, on the new owner for the dead worker's centres
    time.sleep(max(0.0, (t0 + DUE_S * 1000 + 3000 - time.time() * 1000) / 1000))

    def raised(c: str) -> list[tuple[object, ...]]:
        return sql(dsn, f"SELECT a.opened_ms, l.at_ms, l.late FROM cw_{c}.alerts a JOIN cw_{c}.alert_log l"
                        " ON l.alert = a.id AND l.action = 'raise' WHERE a.rule = 'T-DUE'")  # fmt: skip

    assert wait_until(lambda: all(len(raised(c)) == 1 for c in CENTRES), 20), {c: raised(c) for c in CENTRES}
    for c in CENTRES:
        ((opened, at, late),) = raised(c)
        assert opened == t0 + DUE_S * 1000 and not late, (c, opened, at, late)
    # and the new owners said so in their logs: a takeover of each dead centre
    said = "".join((tmp_path / f"{w}.log").read_text() for w in survivors)
    for c in orphans:
        assert f"owns centre {c} (taken over from {victim_name})" in said, c
    # every centre's chain intact across the hand-over, with its agents' signatures
    verified = subprocess.run([CASEWATCH, "hub", "verify", "--config", str(tmp_path / "hub.yaml")],
                              capture_output=True, text=True, timeout=120)  # fmt: skip
    assert verified.returncode == 0, verified.stderr
    assert verified.stdout.count("chain intact") == 30, verified.stdout
    console_shows_every_centre_and_scopes_a_station(dsn, survivors[0], tmp_path)


def console_shows_every_centre_and_scopes_a_station(dsn: str, worker: str, tmp_path: Path) -> None:
    """Any live worker's bureau console: the legal unit sees the 30 centres' alerts, a station its own."""
    from playwright.sync_api import sync_playwright

    from tests.browser_helpers import ARTEFACTS, CHROMIUM, CHROMIUM_ARGS

    ((url,),) = sql(dsn, "SELECT url FROM casewatch.workers WHERE id = %s", worker)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for username, centres in (("legal", CENTRES), ("station05", ["c05"])):
            page = browser.new_context(locale="zh-CN").new_page()
            page.goto(str(url))
            page.fill("input[name=username]", username)
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            seen = lambda p=page, want=centres: sorted(p.evaluate(SHOWN)) == want  # noqa: E731
            assert wait_until(seen, 15), (username, page.evaluate(SHOWN))
            rows = page.evaluate(
                "Array.from(document.querySelectorAll('#centres tbody tr')).map(r => r.dataset.centre)"
            )
            assert sorted(rows) == centres
            assert page.locator("#alerts tbody tr").first.inner_text().count("黄") == 1
            ARTEFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTEFACTS / f"bureau-{username}.png"), full_page=True)
        browser.close()
    centre_consoles_admit_only_their_users(str(url))


def centre_consoles_admit_only_their_users(bureau: str) -> None:
    """Each centre's own console (intake, alert actions) on its owner: linked from the bureau
    page; a station's account logs in to its own centre's and to no other."""
    import httpx

    base = bureau.removesuffix("/bureau")
    token = httpx.post(f"{base}/api/v1/login", json={"username": "legal", "password": PASSWORD}).json()[
        "token"
    ]
    centres = httpx.get(f"{base}/api/v1/bureau/centres", headers={"Authorization": f"Bearer {token}"}).json()
    consoles = {c["id"]: c["console"] for c in centres}
    assert all(consoles.values()) and len(consoles) == 30
    for centre, expected in (("c05", 200), ("c06", 401)):
        api = consoles[centre].removesuffix("/console/") + "/api/v1/login"
        reply = httpx.post(api, json={"username": "station05", "password": PASSWORD})
        assert reply.status_code == expected, (centre, reply.text)
    legal = httpx.post(consoles["c06"].removesuffix("/console/") + "/api/v1/login",
                       json={"username": "legal", "password": PASSWORD})  # fmt: skip
    assert legal.status_code == 200

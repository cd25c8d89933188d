"""Hub ingest against a bare paho consumer, alert latency, timer memory and restart time.

One Mosquitto (Debian) on loopback, started here; the hub is the real ``casewatch hub`` process
with the shipped rule pack (``configs/rules``), durable commits (``synchronous=FULL``) and dedupe.

(1) ``bare_eps`` / ``hub_eps`` / ``hub_eps_receipts``: the same stream of N signed events is
    queued by the broker for three persistent sessions; a bare paho QoS 1 consumer drains one
    (counting), then the hub drains another with receipts off (as before receipts existed), then
    a fresh hub the third with receipts on (a signed retained receipt per agent stream and batch)
    — events/s from the consumer's connection to the last event stored *and* folded into the
    rules. The stream is what a busy centre sends, so rule episodes really open and close: of
    every 100 events 55 are vitals, 10 band positions, 10 occupancy changes, 10 heartbeats, and
    15 are conditions — understaffed interrogations and unattended detainees starting and ending
    (INT-TWO / UNATTENDED episodes open and close, below their first level) and co-suspects
    together (CO-SUSPECT: a red alert raised, planned for notification and cleared).
(2) ``alert_p99_ms``: at 1,000 events/s, one in 50 is a co-suspects condition (CO-SUSPECT, red
    at once); latency from publish to the alert's retained message arriving at a subscriber.
(3) ``restart_s_1m``: a store with 1,000,000 events, 100,000 of them persons' intakes folded
    through the hub's own core (projections of 100,000 persons, their DUR-*, REST-MEAL and
    WB-HEALTH-UNBOUND timers open); seconds from starting ``casewatch hub`` to it saying it runs
    (connected, projections and timers loaded).
(4) ``timers_100k_rss_mb``: peak RSS (VmHWM) of that real hub process with all of it loaded;
    ``hub_rss_empty_mb`` beside it, the same hub on an empty store.
Usage: python bench/hub_ingest.py [--events 40000] [--stored 1000000]
Last line: {"bare_eps": ..., "hub_eps": ..., "ratio": ..., "hub_eps_receipts": ..., "receipts_cost": ...}
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import paho.mqtt.client as mqtt  # noqa: E402
from hub_workloads import fill_store, mixed_stream  # noqa: E402  (bench/, beside this script)
from paho.mqtt.packettypes import PacketTypes  # noqa: E402
from paho.mqtt.properties import Properties  # noqa: E402

from hub.rules.state import alert_id  # noqa: E402
from protocol.ids import uuid7  # noqa: E402
from tests.brokers import Mosquitto, mosquitto_binary  # noqa: E402
from tests.hub_helpers import CENTER, AgentFeed, hub_config  # noqa: E402

CASEWATCH = str(Path(sys.executable).parent / "casewatch")
EVENTS_FILTER = f"casewatch/{CENTER}/+/events/#"


def session(broker: Any, client_id: str, on_message: Any = None) -> mqtt.Client:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 3600
    if on_message is not None:
        client.on_message = on_message
    client.connect(broker.host, broker.port, clean_start=False, properties=props)
    return client


def register_sessions(broker: Any, client_ids: list[str], filters: dict[str, str] | None = None) -> None:
    """Persistent sessions that queue what is published from now on (``filters``: by client id's
    end, e.g. a centre's; default: centre c1's events)."""
    for cid in client_ids:
        client = session(broker, cid)
        client.loop_start()
        wanted = next((f for end, f in (filters or {}).items() if cid.endswith(end)), EVENTS_FILTER)
        client.subscribe(wanted, qos=1)
        time.sleep(0.3)
        client.disconnect()
        client.loop_stop()


def publish_all(
    broker: Any, messages: list[tuple[str, bytes]], rate: float | None = None, on_sent: Any = None
) -> None:
    acked = threading.Semaphore(0)
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.max_inflight_messages_set(1000)
    client.on_publish = lambda *_a: acked.release()
    client.connect(broker.host, broker.port)
    client.loop_start()
    started = time.monotonic()
    for i, (topic, payload) in enumerate(messages):
        if rate:
            ahead = started + i / rate - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)
        if on_sent is not None:
            on_sent(i)
        client.publish(topic, payload, qos=1)
    for _ in messages:
        acked.acquire(timeout=60)
    client.disconnect()
    client.loop_stop()


def bare_drain(broker: Any, client_id: str, n: int) -> float:
    done = threading.Event()
    count = 0
    first = 0.0

    def on_message(*_a: Any) -> None:
        nonlocal count, first
        count += 1
        if count == 1:
            first = time.perf_counter()
        if count >= n:
            done.set()

    client = session(broker, client_id, on_message)
    client.loop_start()
    done.wait(300)
    took = time.perf_counter() - first
    client.disconnect()
    client.loop_stop()
    return n / took


def scalar(db: Path, sql: str) -> int:
    try:
        with sqlite3.connect(db, timeout=5) as conn:
            row = conn.execute(sql).fetchone()
        return int(row[0]) if row and row[0] is not None else 0
    except sqlite3.Error:
        return -1


def start_hub(config: Path, log: Path) -> tuple[subprocess.Popen[bytes], float]:
    started = time.perf_counter()
    proc = subprocess.Popen(
        [CASEWATCH, "hub", "--config", str(config), "--log-format", "json"],
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )
    while "hub running" not in log.read_text(errors="replace"):
        if proc.poll() is not None:
            raise RuntimeError(log.read_text()[-2000:])
        time.sleep(0.02)
    return proc, time.perf_counter() - started


def hub_drain(config: Path, work: Path, n: int) -> float:
    db = work / "hub.db"
    proc, _ = start_hub(config, work / "hub.log")
    while scalar(db, "SELECT count(*) FROM events") < 1:  # timed from the first event, like bare
        time.sleep(0.002)
    started = time.perf_counter()
    while scalar(db, "SELECT value FROM meta WHERE key = 'rules_pos'") < n:
        time.sleep(0.01)
    took = time.perf_counter() - started
    proc.terminate()
    proc.wait(20)
    return n / took


def alert_latency(broker: Any, config: Path, work: Path, feed: AgentFeed, seconds: float) -> list[float]:
    proc, _ = start_hub(config, work / "hub-latency.log")
    sent: dict[str, float] = {}
    latencies: list[float] = []

    def on_alert(_c: Any, _u: Any, msg: Any) -> None:
        doc = json.loads(msg.payload)
        if doc.get("id") in sent and doc.get("level") == "red":
            latencies.append((time.perf_counter() - sent.pop(doc["id"])) * 1000)

    watcher = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    watcher.on_message = on_alert
    watcher.connect(broker.host, broker.port)
    watcher.subscribe(f"casewatch/{CENTER}/alerts/#", qos=1)
    watcher.loop_start()
    time.sleep(0.5)
    now = int(time.time() * 1000)
    total = int(seconds * 1000)
    messages, bands = [], {}
    for i in range(total):
        if i % 50 == 0:  # co-suspects in one room: CO-SUSPECT, red at once
            cid = uuid7(now + i)
            bands[i] = alert_id("CO-SUSPECT", (cid,), now + i)
            data = {
                "condition": "co_suspects",
                "condition_id": cid,
                "facts": {"detainees": 2, "cases": ["K1"]},
            }
            messages.append(feed.message(feed.event("condition.start", now + i, {"room": "wait-1"}, data)))
        else:
            messages.append(
                feed.message(
                    feed.event(
                        "band.vitals", now + i, {"band": f"B{i % 40:04d}"}, {"heart_rate": 70}, source="rx-1"
                    )
                )
            )

    def on_sent(i: int) -> None:
        if i in bands:
            sent[bands[i]] = time.perf_counter()

    publish_all(broker, messages, rate=1000, on_sent=on_sent)
    time.sleep(2)
    watcher.loop_stop()
    proc.terminate()
    proc.wait(20)
    return sorted(latencies)


def process_rss_mb(pid: int) -> tuple[float, float]:
    """(peak, current) resident memory of a process, MB, from /proc."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line
    )
    return int(fields["VmHWM"].split()[0]) / 1024, int(fields["VmRSS"].split()[0]) / 1024


def bench_config(
    work: Path, feed: AgentFeed, rules: list[str], port: int, client_id: str, *, receipts: bool = True
) -> Path:
    """A hub config in its own folder: MQTT v5 to the bench broker, a FULL-sync store there."""
    work.mkdir(exist_ok=True)
    return hub_config(
        work, None, agent_key=feed.key_text, rules=rules,
        mqtt={"host": "127.0.0.1", "port": port, "protocol": "5", "client_id": client_id},
        store={"path": str(work / "hub.db"), "synchronous": "FULL"},
        ingest={"receipts": receipts},
    )  # fmt: skip


def postgresql_runs(work: Path, broker: Any, config: Path, rules: list[str], events: int) -> dict[str, Any]:
    """(5) and (6) of bench/hub_ingest_pg.py, beside the SQLite figures of the same run."""
    from hub_ingest_pg import CENTRES, pg_drain, workers_drain

    pg = pg_drain(work / "drain", config, events, start_hub=start_hub)
    print(f"hub on PostgreSQL, receipts off: {pg:,.0f} events/s", file=sys.stderr)
    now = int(time.time() * 1000)
    feeds = {c: AgentFeed(agent=f"box-{c}", center=c, epoch="be4c4be4c4be4c4b") for c in CENTRES}
    streams = {c: mixed_stream(feeds[c], events // 2, now) for c in CENTRES}
    one = workers_drain(work / "w1", broker, feeds, streams, dict.fromkeys(CENTRES, "w1"), rules,
                        register=register_sessions, publish=publish_all)  # fmt: skip
    print(f"2 centres, 1 worker process: {one:,.0f} events/s", file=sys.stderr)
    two = workers_drain(work / "w2", broker, feeds, streams, {"k1": "w1", "k2": "w2"}, rules,
                        register=register_sessions, publish=publish_all)  # fmt: skip
    print(f"2 centres, 2 worker processes: {two:,.0f} events/s ({two / one:.2f} of 1)", file=sys.stderr)
    return {"hub_eps_pg": round(pg), "workers_1_eps": round(one), "workers_2_eps": round(two),
            "workers_2_gain": round(two / one, 2)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=40_000)
    parser.add_argument("--stored", type=int, default=1_000_000)
    parser.add_argument("--timers", type=int, default=100_000, help="persons (intakes) in the restart store")
    parser.add_argument("--latency-s", type=float, default=20.0)
    parser.add_argument("--arrived-ago-h", type=float, default=1 / 60, help="the restart store's intakes")
    parser.add_argument(
        "--rules", default=str(REPO / "configs" / "rules" / "*.yaml"), help="rule files (glob)"
    )
    parser.add_argument("--store", choices=["sqlite", "postgresql"], default="sqlite",
                        help="postgresql: also the drain on PostgreSQL, and 1 worker against 2")  # fmt: skip
    parser.add_argument("--skip-restart", action="store_true", help="leave out (3) and (4)")
    args = parser.parse_args()
    binary = mosquitto_binary()
    if binary is None:
        sys.exit("needs Debian's mosquitto")
    with tempfile.TemporaryDirectory(prefix="cw-hub-bench-") as tmp:
        work = Path(tmp)
        broker = Mosquitto(work, binary).start()
        try:
            feed = AgentFeed(epoch="be4c4be4c4be4c4b")
            rules = [args.rules]
            port = broker.port
            config = bench_config(work / "drain", feed, rules, port, "hub-bench", receipts=False)
            config_r = bench_config(work / "drain-r", feed, rules, port, "hub-bench-r", receipts=True)
            register_sessions(broker, ["bare-bench", "hub-bench", "hub-bench-r", "hub-bench-pg"])
            print(f"preparing {args.events} signed events …", file=sys.stderr)
            now = int(time.time() * 1000)
            stream = mixed_stream(feed, args.events, now)
            publish_all(broker, stream)
            bare = bare_drain(broker, "bare-bench", args.events)
            print(f"bare paho QoS 1 consumer: {bare:,.0f} msg/s", file=sys.stderr)
            hub = hub_drain(config, work / "drain", args.events)
            print(f"hub, receipts off: {hub:,.0f} events/s", file=sys.stderr)
            hub_r = hub_drain(config_r, work / "drain-r", args.events)
            print(f"hub, receipts on: {hub_r:,.0f} events/s", file=sys.stderr)
            alerts_raised = scalar(work / "drain-r" / "hub.db", "SELECT count(*) FROM alerts")
            print(f"  alerts raised by the stream: {alerts_raised}", file=sys.stderr)

            lat_cfg = bench_config(work / "latency", feed, rules, port, "hub-latency")
            feed2 = AgentFeed(feed.key_text, start_seq=args.events + 1, epoch=feed.epoch)
            lat = alert_latency(broker, lat_cfg, work / "latency", feed2, args.latency_s)
            p50 = lat[len(lat) // 2] if lat else float("nan")
            p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] if lat else float("nan")
            print(f"alert latency: {len(lat)} alerts, p50 {p50:.1f} ms, p99 {p99:.1f} ms", file=sys.stderr)

            figures = {}
            if args.store == "postgresql":
                figures = postgresql_runs(work, broker, config, rules, args.events)
            if args.skip_restart:
                short = {"bare_eps": round(bare), "hub_eps": round(hub), "ratio": round(hub / bare, 3),
                         "hub_eps_receipts": round(hub_r), "alert_p99_ms": round(p99, 1)}  # fmt: skip
                print(json.dumps({**short, **figures, "events": args.events, "cpus": os.cpu_count()}))
                return
            empty_cfg = bench_config(work / "empty", feed, rules, port, "hub-empty")
            proc, _ = start_hub(empty_cfg, work / "empty" / "hub.log")
            time.sleep(1)
            empty_rss, _now = process_rss_mb(proc.pid)
            proc.terminate()
            proc.wait(20)

            rst_cfg = bench_config(work / "restart", feed, rules, port, "hub-restart")
            fill_store(work / "restart", args.stored, args.timers, int(args.arrived_ago_h * 3_600_000))
            proc, restart_s = start_hub(rst_cfg, work / "restart" / "hub.log")
            time.sleep(1)
            rss, rss_now = process_rss_mb(proc.pid)
            proc.terminate()
            proc.wait(20)
            print(
                f"restart with {args.stored:,} events and {args.timers:,} persons: {restart_s:.2f} s, "
                f"peak RSS {rss:.0f} MB (now {rss_now:.0f}; empty hub {empty_rss:.0f})",
                file=sys.stderr,
            )
        finally:
            broker.stop()
    print(
        json.dumps(
            {
                "bare_eps": round(bare),
                "hub_eps": round(hub),
                "ratio": round(hub / bare, 3),
                "hub_eps_receipts": round(hub_r),
                "ratio_receipts": round(hub_r / bare, 3),
                "receipts_cost": round(1 - hub_r / hub, 3),
                "stream_alerts": alerts_raised,
                "alert_p50_ms": round(p50, 1),
                "alert_p99_ms": round(p99, 1),
                "alerts": len(lat),
                "timers_100k_rss_mb": round(rss),
                "hub_rss_empty_mb": round(empty_rss),
                "restart_s_1m": round(restart_s, 2),
                **figures,
                "events": args.events,
                "stored": args.stored,
                "timers": args.timers,
                "cpus": os.cpu_count(),
            }
        )
    )


if __name__ == "__main__":
    main()

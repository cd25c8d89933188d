"""What bench/hub_ingest.py feeds the hub: the stream a busy centre sends, and a store as a hub
that has run for months leaves it (1,000,000 events, 100,000 persons with open timers)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from protocol.ids import uuid7
from tests.hub_helpers import AgentFeed


def mixed_stream(feed: AgentFeed, n: int, now: int) -> list[tuple[str, bytes]]:
    """``n`` signed events as a busy centre sends them (module docstring)."""
    out: list[tuple[str, bytes]] = []
    open_conditions: dict[str, tuple[str, str, int]] = {}
    for i in range(n):
        ts, slot, band = now + i, i % 100, f"B{i % 200:04d}"
        if slot < 55:
            ev = feed.event("band.vitals", ts, {"band": band}, {"heart_rate": 60 + i % 50}, source="rx-1")
        elif slot < 65:
            room = ("wait-1", "int-1", "corridor")[i % 3]
            ev = feed.event("band.position", ts, {"band": band, "room": room}, {"room": room}, source="rx-1")
        elif slot < 75:
            subject = {"room": "int-1", "camera": "cam-int-1", "zone": "room"}
            ev = feed.event("occupancy", ts, subject, {"count": i % 3, "since": ts}, source="cam-int-1")
        elif slot < 85:
            ev = feed.event("agent.heartbeat", ts, {}, {"uptime_s": i / 1000}, source="box-01")
        else:
            name, room, facts = {
                85: (
                    "understaffed",
                    "int-1",
                    {"persons": 2, "detainees": 1, "officers": 1, "required_officers": 2},
                ),
                88: ("unattended", "wait-1", {"persons": 1, "detainees": 1, "officers": 0}),
                91: ("co_suspects", "wait-1", {"detainees": 2, "cases": ["K1"]}),
            }.get(slot, (None, None, None))  # type: ignore[assignment]
            if name is not None:
                cid = uuid7(ts)
                open_conditions[cid] = (name, room, ts)
                data = {"condition": name, "condition_id": cid, "facts": facts}
                ev = feed.event("condition.start", ts, {"room": room}, data, source="box-01")
            elif open_conditions:
                cid, (name, room, started) = next(iter(open_conditions.items()))
                del open_conditions[cid]
                data = {
                    "condition": name,
                    "condition_id": cid,
                    "started": started,
                    "duration_ms": ts - started,
                }
                ev = feed.event("condition.end", ts, {"room": room}, data, source="box-01")
            else:
                ev = feed.event("agent.heartbeat", ts, {}, {"uptime_s": i / 1000}, source="box-01")
        out.append(feed.message(ev))
    return out


def fill_store(config_dir: Path, n: int, persons: int, arrived_ago_ms: int = 60_000) -> None:
    """A store of ``n`` events: ``persons`` intakes folded through the hub's core (projections,
    open timers, as a running hub leaves them), then vitals up to ``n`` (already folded).

    Arrived a minute ago by default: every person's timers are open, none has come due yet (as
    in the 300,000-timer figure before). ``--arrived-ago-h 1`` makes WB-HEALTH-UNBOUND (no band
    within 5 min) fire for each, the worst case: 100,000 open alerts in memory too."""
    from foundation.configfile import load_config
    from hub.config import HubConfig
    from hub.core import Changes
    from hub.records import HUB_AGENT, build_record, record_bytes
    from hub.service import HubService
    from hub.store import Batch, Incoming

    cfg = load_config(config_dir / "hub.yaml", HubConfig)
    service = HubService(cfg, config_dir).open()
    now = int(time.time() * 1000)
    seq = 0
    for start in range(0, persons, 2000):
        events = []
        for i in range(start, min(persons, start + 2000)):
            seq += 1
            arrived = now - arrived_ago_ms + i
            data = {"procedure": "summons", "arrived": arrived, "name": f"人员{i}", "sex": "male"}
            doc = build_record(kind="person.intake", subject={"person": f"p{i}"}, data=data, seq=seq,
                               ts=arrived, center=cfg.center, by="bench", key=service.hub_key,
                               now_ms=now)  # fmt: skip
            body = record_bytes(doc)
            events.append(Incoming(HUB_AGENT, seq, doc["id"], "person.intake", doc["ts"], now, body, f"p{i}"))
        stored = service.store.write(Batch(events=events, streams={(HUB_AGENT, ""): seq + 1}))
        service.core.process(stored, now)
        service.outputs.save(service.core.take_changes(now), service.core, publish=False, notify=False)
    body = json.dumps({"v": 1, "kind": "band.vitals", "agent": "box-01", "data": {"heart_rate": 70},
                       "subject": {"band": "B0001"}, "ts": 0}).encode()  # fmt: skip
    rest = n - persons
    for start in range(0, rest, 5000):
        batch = Batch(
            events=[
                Incoming("box-01", s + 1, f"id{s}", "band.vitals", now, now, body)
                for s in range(start, min(rest, start + 5000))
            ]
        )
        batch.streams[("box-01", "")] = min(rest, start + 5000) + 1
        service.store.write(batch)
    service.derived.save(Changes(pos=service.store.head()[0]))  # the vitals count as folded
    timers = service.core.engine.pending_timers()
    alerts = len(service.derived.live_alerts())
    print(f"store filled: {n:,} events, {persons:,} persons, {timers:,} open timers, {alerts:,} open alerts",
          file=sys.stderr)  # fmt: skip
    service.store.close()

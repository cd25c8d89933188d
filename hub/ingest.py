"""The hub's ingest thread: batches in, admission, one durable commit, then judgement.

Paho's network thread puts each delivery on ``_queue``; people's records join the same queue.
This thread takes a batch (``ingest.batch_max`` messages or ``ingest.batch_ms``), admits it
(verify, dedupe, quarantine, gaps), re-checks records against what the batch already claims,
commits it to the store and only then acknowledges the deliveries (MQTT manual ack) — so an
acknowledged event is always on disk. It then folds the stored events into the ``HubCore``,
saves what changed, fires due timers, and applies admins' rule changes (it alone owns the
engine). ``HubService`` mixes this in and owns the state; the attributes below are its.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from agent.mqtt_link import MqttLink
from hub.admission import Admission
from hub.agent_files import AgentFiles
from hub.config import HubConfig
from hub.core import Changes, HubCore
from hub.outbound import Outbound
from hub.records import HUB_AGENT, RecordConflict, build_record, conflict, record_bytes
from hub.rule_admin import OVERRIDES_META, apply_overrides, dump_overrides
from hub.rules.engine import RuleEngine
from hub.rules.spec import RuleFile
from hub.state_store import DerivedStore
from hub.store import Batch, HubStore, Incoming, Stored
from hub.web.evidence import EvidenceFolder
from protocol.clock import Clock

log = logging.getLogger("hub.service")
TICK_S = 0.2
RULES_DIGEST = "rules_digest"
BURST = 50
"""A batch this big suggests more is coming: wait (≤ batch_ms) to fill it rather than commit."""


@dataclass
class _Delivery:
    topic: str
    payload: bytes
    mid: int
    qos: int
    received_ms: int


@dataclass
class _RecordRequest:
    kind: str
    subject: dict[str, str]
    data: dict[str, Any]
    by: str
    ts: int | None
    done: Future[Stored] = field(default_factory=Future)


@dataclass
class IngestStats:
    batches: int = 0
    stored: int = 0
    commit_ms_max: float = 0.0
    store_errors: int = 0


class IngestLoop:
    """The ingest thread's methods (mixed into ``HubService``)."""

    cfg: HubConfig
    clock: Clock
    core: HubCore
    store: HubStore
    derived: DerivedStore
    admission: Admission
    link: MqttLink | None
    stats: IngestStats
    outbound: Outbound
    evidence: EvidenceFolder
    agent_files: AgentFiles
    file_rules: RuleFile
    rules: RuleFile
    rule_overrides: dict[str, dict[str, Any]]
    _queue: queue.Queue[_Delivery | _RecordRequest | None]
    _stop: threading.Event
    _hub_seq: int
    _next_prune_ms: int
    hub_key: bytes

    def _save(self, changes: Changes, *, publish: bool = True, notify: bool = True) -> None:
        raise NotImplementedError  # HubService's: alerts, registrations and notifications out

    # the ingest thread ------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            items = self._take_batch()
            try:
                if items:
                    self._ingest(items)
                self._tick()
            except Exception:
                log.exception("ingest round failed; continuing")

    def _take_batch(self) -> list[_Delivery | _RecordRequest]:
        due = self.core.engine.next_due()
        wait = TICK_S if due is None else max(0.0, min(TICK_S, (due - self.clock.now_ms()) / 1000))
        try:
            first = self._queue.get(timeout=wait)
        except queue.Empty:
            return []
        if first is None:
            return []
        items: list[_Delivery | _RecordRequest] = [first]
        # Take what has arrived, up to batch_max, waiting at most batch_ms for more only while
        # deliveries keep coming: at low rates a lone event is committed at once (alert
        # latency), at high rates batches fill while the previous one commits (throughput).
        deadline = time.monotonic() + self.cfg.ingest.batch_ms / 1000
        while len(items) < self.cfg.ingest.batch_max:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                if time.monotonic() >= deadline or len(items) < BURST:
                    break
                time.sleep(0.001)
                continue
            if item is None:
                self._stop.set()
                break
            items.append(item)
        return items

    def _ingest(self, items: list[_Delivery | _RecordRequest]) -> None:
        batch = Batch()
        deliveries: list[_Delivery] = []
        requests: list[_RecordRequest] = []
        claimed: set[tuple[str, str]] = set()
        for item in items:
            if isinstance(item, _Delivery):
                deliveries.append(item)
                verdict = self.admission.admit(item.payload, item.topic, item.received_ms)
                if isinstance(verdict, Incoming):
                    batch.events.append(verdict)
                elif verdict is not None:
                    batch.quarantined.append(verdict)
            else:
                try:
                    p = self.core.projections
                    problem = conflict(item.kind, item.subject, p.persons, p.bands, p.cases, claimed)
                    if problem is not None:
                        raise RecordConflict(problem)
                    batch.events.append(self._record_incoming(item))
                    requests.append(item)
                except Exception as exc:
                    item.done.set_exception(exc)
        for gap in self.admission.take_gaps():
            batch.gaps.append(gap)
            batch.events.append(
                self._record_incoming(
                    _RecordRequest(
                        "ingest.gap",
                        {},
                        {"agent": gap.agent, "first": gap.first, "last": gap.last},
                        HUB_AGENT,
                        gap.detected_ms,
                    )
                )
            )
        for ev in batch.events:
            nxt = self.admission.tracker.next_expected(ev.agent)
            if nxt is not None:
                batch.agent_next[ev.agent] = nxt
        batch.agent_next[HUB_AGENT] = self._hub_seq
        started = time.perf_counter()
        try:
            stored = self.store.write(batch)
        except Exception as exc:
            self.stats.store_errors += 1
            log.error("batch of %d not committed (will be redelivered): %s", len(items), exc)
            self.admission.restore(self.store.agent_next())
            self._hub_seq = self.store.agent_next().get(HUB_AGENT, 1)
            for req in requests:
                req.done.set_exception(exc)
            return
        self.stats.commit_ms_max = max(self.stats.commit_ms_max, (time.perf_counter() - started) * 1000)
        self.stats.batches += 1
        self.stats.stored += len(stored)
        if self.link is not None:
            for d in deliveries:
                self.link.ack(d.mid, d.qos)
        by_id = {s.id: s for s in stored}
        later: list[tuple[_RecordRequest, Stored]] = []  # rule changes: answered once applied
        for req, ev in zip(requests, [e for e in batch.events if e.agent == HUB_AGENT], strict=False):
            if ev.id in by_id:
                if req.kind == "rule.change":
                    later.append((req, by_id[ev.id]))
                else:
                    req.done.set_result(by_id[ev.id])
        now = self.clock.now_ms()
        self.core.process(stored, now)
        self._save(self.core.take_changes(now))
        if later:
            try:
                self._change_rules([req.data for req, _ in later])
            except Exception as exc:  # logged, but not applied: the admin must hear it
                log.exception("rule change logged but not applied")
                for req, _ in later:
                    req.done.set_exception(exc)
            else:
                for req, done in later:
                    req.done.set_result(done)

    def _change_rules(self, changes: list[dict[str, Any]]) -> None:
        """Lay admins' rule changes over the files and swap the engine (here: it owns the engine).

        Every state is restored into the new engine and its due time recomputed, so a lowered
        threshold fires at the next tick and a raised one waits; a disabled rule's states go."""
        overrides = dict(self.rule_overrides)
        for change in changes:
            overrides[change["rule"]] = {k: change.get(k) for k in ("enabled", "limit_ms", "stages")}
        rules = apply_overrides(self.file_rules, overrides)
        self.store.meta_set(OVERRIDES_META, dump_overrides(overrides))
        self.rule_overrides, self.rules = overrides, rules
        self.outbound.rules.update({r.id: r for r in rules.rules})
        engine = RuleEngine(rules, self.cfg.timezone)
        engine.restore(self.derived.rule_states(), trust_due=False)
        engine.mark_all_dirty()
        self.core.engine = engine
        states = engine.take_dirty()
        self.derived.save(Changes(rule_states=states), {k: engine.state_due(k) for k in states})
        self.store.meta_set(RULES_DIGEST, engine.digest)
        log.info("rules changed from the console: %s", ", ".join(c["rule"] for c in changes))

    def _record_incoming(self, req: _RecordRequest) -> Incoming:
        now = self.clock.now_ms()
        ts = req.ts if req.ts is not None else now
        doc = build_record(
            kind=req.kind,
            subject=req.subject,
            data=req.data,
            seq=self._hub_seq,
            ts=ts,
            center=self.cfg.center,
            by=req.by,
            key=self.hub_key,
            now_ms=now,
        )
        self._hub_seq += 1
        subject = doc["subject"]
        return Incoming(
            HUB_AGENT, doc["seq"], doc["id"], req.kind, ts, now, record_bytes(doc), subject.get("person"),
            subject.get("band"),
        )  # fmt: skip

    def _tick(self) -> None:
        now = self.clock.now_ms()
        if now >= self._next_prune_ms:  # hourly: alerts' pictures past alerts.evidence_days
            self._next_prune_ms = now + 3_600_000
            self.evidence.prune(now - self.cfg.alerts.evidence_days * 86_400_000)
            self.agent_files.prune(now - self.cfg.alerts.evidence_days * 86_400_000)
        self.core.tick(now)
        changes = self.core.take_changes(now)
        if not changes.empty():
            self._save(changes)

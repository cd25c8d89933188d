"""The hub's ingest thread: the store's only writer and the only owner of the judgement.

Paho's network thread puts each delivery on the queue; people's records and connect-time work
(``call``) join the same queue, so everything that writes the store, changes projections or
publishes what they say happens on this one thread, in order. A round takes a batch
(``ingest.batch_max`` messages or ``ingest.batch_ms``), admits it (verify, dedupe, quarantine,
gaps, outbox resets — hub/admission.py, a message that fails in any way is quarantined alone),
commits it to the store and only then acknowledges the deliveries (MQTT manual ack) and publishes
each agent's receipt (protocol/receipts.py) — so an acknowledged or receipted event is on disk.
It then folds the stored events into the judgement, saves what changed, fires due timers, and
applies admins' rule changes.

A failed commit or save stops the world, visibly: the hub keeps what it could not write, stops
acknowledging (the broker holds the rest), says ``degraded`` with the reason on ``/health``,
``/metrics`` and its retained status (agents then keep their events in their outboxes), retries
with backoff and resumes by itself when the fault clears — without a false gap (the batch's
admission is undone and done again) and without dropping derived state (the unsaved changes are
kept and saved first). The stall is then logged as an ``ingest.stall`` record.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from hub.admission import Admission
from hub.agent_files import AgentFiles
from hub.config import HubConfig
from hub.core import Changes
from hub.errors import StoreError
from hub.judgement import Judgement
from hub.outbound import Outbound
from hub.outputs import Outputs
from hub.own_records import HubRecords
from hub.records import HUB_AGENT, RecordConflict, conflict
from hub.state_store import DerivedStore
from hub.store import Batch, HubStore, Incoming, Stored, Stream
from hub.web.evidence import EvidenceFolder
from protocol.anchor import make_anchor
from protocol.clock import Clock

log = logging.getLogger("hub.service")
T = TypeVar("T")
TICK_S = 0.2
BURST = 50
"""A batch this big suggests more is coming: wait (≤ batch_ms) to fill it rather than commit."""
RETRY_FIRST_S = 0.5
RETRY_MAX_S = 10.0


@dataclass
class Delivery:
    topic: str
    payload: bytes
    mid: int
    qos: int
    received_ms: int


@dataclass
class RecordRequest:
    kind: str
    subject: dict[str, str]
    data: dict[str, Any]
    by: str
    ts: int | None
    done: Future[Stored] = field(default_factory=Future)


@dataclass
class Call:
    """Work that must run on the ingest thread (connect-time republishing, other threads' writes)."""

    fn: Callable[[], Any]
    name: str
    done: Future[Any] | None = None


Item = Delivery | RecordRequest | Call


@dataclass
class IngestStats:
    batches: int = 0
    stored: int = 0
    commit_ms_max: float = 0.0
    store_errors: int = 0
    save_errors: int = 0
    receipts: int = 0
    stalls: int = 0


@dataclass
class Fault:
    """Why the ingest stands still: what failed, since when, how often it was tried."""

    stage: Literal["commit", "save"]
    reason: str
    since_ms: int
    attempts: int = 1
    retry_at: float = 0.0


@dataclass
class _Held:
    """What a fault left unwritten: a batch's deliveries, or a round's changes not yet saved."""

    deliveries: list[Delivery] = field(default_factory=list)
    changes: Changes | None = None
    publish: bool = True
    later: list[tuple[RecordRequest, Stored]] = field(default_factory=list)


class Ingest:
    def __init__(
        self,
        *,
        cfg: HubConfig,
        clock: Clock,
        store: HubStore,
        derived: DerivedStore,
        admission: Admission,
        judgement: Judgement,
        outputs: Outputs,
        outbound: Outbound,
        evidence: EvidenceFolder,
        agent_files: AgentFiles,
        hub_key: bytes,
        hub_seq: int,
        on_health: Callable[[Fault | None], None] | None = None,
        on_tick: Callable[[], None] | None = None,
    ) -> None:
        self.cfg = cfg
        self.clock = clock
        self.store = store
        self.derived = derived
        self.admission = admission
        self.judgement = judgement
        self.outputs = outputs
        self.outbound = outbound
        self.evidence = evidence
        self.agent_files = agent_files
        self.own = HubRecords(center=cfg.center, key=hub_key, clock=clock, next_seq=hub_seq)
        self.on_health = on_health
        self.on_tick = on_tick
        """Other timed work of the hub's, on this thread (watches that ended)."""
        self.on_stored: Callable[[list[Stored]], None] | None = None
        """Told each round's stored events once their changes are saved (the coverage watch): on
        this thread, so it must only look and hand work on."""
        self.ack: Callable[[int, int], None] | None = None
        """How a delivery is acknowledged (the MQTT link's ``ack``), set once the link exists."""
        self.stats = IngestStats()
        self.fault: Fault | None = None
        self._held: _Held | None = None
        self.queue: queue.Queue[Item | None] = queue.Queue()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._next_prune_ms = 0
        self._next_anchor_ms = 0
        self._anchored_pos = 0
        self.hub_key = hub_key
        self._gate = threading.Lock()
        self._closing = False
        """Set under ``_gate`` once the thread is gone: writes from then on run where they are asked."""

    # lifecycle --------------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="hub-ingest", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.queue.put(None)
        if self._thread is not None:
            self._thread.join(10)
        with self._gate:  # from now on run_sync runs inline; what was queued before is done here
            self._closing = True
        while True:
            try:
                item = self.queue.get_nowait()
            except queue.Empty:
                break
            if isinstance(item, Call):
                self._run_call(item)
            elif isinstance(item, RecordRequest):
                item.done.set_exception(StoreError("the hub is stopping"))

    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and not self._stop.is_set()

    def put(self, item: Item) -> None:
        self.queue.put(item)

    def call(self, fn: Callable[[], None], name: str) -> None:
        """Run ``fn`` on the ingest thread, in order with the batches."""
        self.queue.put(Call(fn, name))

    def run_sync(self, fn: Callable[[], T], timeout_s: float = 30.0) -> T:
        """Run a write on the ingest thread and return its result (``HubStore.writer``): the store
        has one writer. Inline when already on that thread, or once it has stopped. Refused at
        once while a fault holds the ingest (the store takes no writes); a call not run within
        ``timeout_s`` is cancelled, so it never runs after its caller gave up."""
        if threading.current_thread() is self._thread:
            return fn()
        fault = self.fault
        if fault is not None:
            raise StoreError(f"the store cannot be written: {fault.reason}")
        call = Call(fn, getattr(fn, "__qualname__", "write"), Future())
        assert call.done is not None
        with self._gate:
            if self._closing or self._thread is None or not self._thread.is_alive():
                inline = True
            else:
                inline = False
                self.queue.put(call)
        if inline:
            return fn()
        try:
            result: T = call.done.result(timeout_s)
        except TimeoutError:
            call.done.cancel()
            raise
        return result

    def record(self, request: RecordRequest) -> None:
        """Queue a person's record; refused at once while the store cannot be written."""
        fault = self.fault
        if fault is not None:
            raise StoreError(f"中心存储故障，暂不能记录 (the store cannot be written: {fault.reason})")
        self.queue.put(request)

    # the thread -------------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                if self._held is not None:
                    self._retry_held()
                    continue
                items = self._take_batch()
                if items:
                    self._round(items)
                if self._held is None:
                    self._tick()
            except Exception:
                log.exception("ingest round failed; continuing")

    def _take_batch(self) -> list[Item]:
        due = self.judgement.core.engine.next_due()
        wait = TICK_S if due is None else max(0.0, min(TICK_S, (due - self.clock.now_ms()) / 1000))
        try:
            first = self.queue.get(timeout=wait)
        except queue.Empty:
            return []
        if first is None:
            return []
        items: list[Item] = [first]
        # Take what has arrived, up to batch_max, waiting at most batch_ms for more only while
        # deliveries keep coming: at low rates a lone event is committed at once (alert
        # latency), at high rates batches fill while the previous one commits (throughput).
        deadline = time.monotonic() + self.cfg.ingest.batch_ms / 1000
        while len(items) < self.cfg.ingest.batch_max:
            try:
                item = self.queue.get_nowait()
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

    def run_round(self, items: list[Item]) -> None:
        """One round on the caller's thread, without the queue (property tests, the benchmark)."""
        self._round(items)

    def _round(self, items: list[Item]) -> None:
        calls = [item for item in items if isinstance(item, Call)]
        work = [item for item in items if not isinstance(item, Call)]
        if work:
            self._ingest(work)
        for call in calls:
            if self._held is not None:  # after a fault: the work waits for the store
                self.queue.put(call)
                continue
            self._run_call(call)

    @staticmethod
    def _run_call(call: Call) -> None:
        if call.done is not None and not call.done.set_running_or_notify_cancel():
            return  # its caller gave up waiting: never run it behind their back
        try:
            result = call.fn()
        except Exception as exc:
            if call.done is not None:
                call.done.set_exception(exc)
            else:
                log.exception("ingest call %s failed", call.name)
        else:
            if call.done is not None:
                call.done.set_result(result)

    def _ingest(self, items: list[Delivery | RecordRequest]) -> None:
        batch = Batch()
        deliveries = [item for item in items if isinstance(item, Delivery)]
        requests: list[RecordRequest] = []
        self.admission.begin()
        first_hub_seq = self.own.next_seq
        try:
            stored, touched = self._admit_and_write(items, batch, requests)
        except Exception as exc:  # nothing of the batch counts as seen; its deliveries are held
            self.admission.rollback()
            self.own.next_seq = first_hub_seq
            self.stats.store_errors += 1
            for req in requests:
                if not req.done.done():
                    req.done.set_exception(StoreError(f"not stored: {exc}"))
            self._hold("commit", exc, _Held(deliveries=deliveries))
            return
        self.admission.commit()
        self.stats.batches += 1
        self.stats.stored += len(stored)
        if self.ack is not None:
            for d in deliveries:
                self.ack(d.mid, d.qos)
        self._send_receipts(touched)
        by_id = {s.id: s for s in stored}
        later: list[tuple[RecordRequest, Stored]] = []  # rule changes: answered once applied
        answer: list[tuple[RecordRequest, Stored]] = []
        hub_events = [e for e in batch.events if e.agent == HUB_AGENT]
        for req, ev in zip(requests, hub_events, strict=False):
            if ev.id in by_id:
                (later if req.kind == "rule.change" else answer).append((req, by_id[ev.id]))
        now = self.clock.now_ms()
        core = self.judgement.core
        try:
            core.process(stored, now)
            self._save(_Held(changes=core.take_changes(now), later=later))
        finally:  # answered once the round's changes are saved: the caller's next read sees them
            for req, done in answer:
                req.done.set_result(done)
        if self.on_stored is not None and stored:
            try:
                self.on_stored(stored)
            except Exception:  # a listener's fault is not the ingest's
                log.exception("a listener to stored events failed")

    def _admit_and_write(
        self, items: list[Delivery | RecordRequest], batch: Batch, requests: list[RecordRequest]
    ) -> tuple[list[Stored], set[Stream]]:
        """Admit every item into ``batch`` and commit it; raises if anything fails before the commit."""
        claimed: set[tuple[str, str]] = set()
        for item in items:
            if isinstance(item, Delivery):
                verdict = self.admission.admit(item.payload, item.topic, item.received_ms)
                if isinstance(verdict, Incoming):
                    batch.events.append(verdict)
                elif verdict is not None:
                    batch.quarantined.append(verdict)
            else:
                try:
                    p = self.judgement.core.projections
                    problem = conflict(item.kind, item.subject, p.persons, p.bands, p.cases, claimed)
                    if problem is not None:
                        raise RecordConflict(problem)
                    batch.events.append(self.own.build(item.kind, item.subject, item.data, item.by, item.ts))
                    requests.append(item)
                except Exception as exc:
                    item.done.set_exception(exc)
        touched = self.admission.take_touched()
        for gap in self.admission.take_gaps():
            batch.gaps.append(gap)
            batch.events.append(self.own.gap(gap))
        for reset in self.admission.take_resets():
            batch.events.append(self.own.reset(reset))
        for stream in touched:
            nxt = self.admission.next_expected(stream)
            if nxt is not None:
                batch.streams[stream] = nxt
        batch.streams[(HUB_AGENT, "")] = self.own.next_seq
        started = time.perf_counter()
        stored = self.store.write(batch)
        self.stats.commit_ms_max = max(self.stats.commit_ms_max, (time.perf_counter() - started) * 1000)
        return stored, touched

    # saving, and what a fault holds back ----------------------------------------------------------
    def _save(self, held: _Held) -> None:
        """Save a round's changes, then apply the rule changes it carries; hold them on failure."""
        assert held.changes is not None
        try:
            self.outputs.save(held.changes, self.judgement.core, publish=held.publish)
        except Exception as exc:
            self.stats.save_errors += 1
            self._hold("save", exc, held)
            return
        if held.later:
            self._apply_rule_changes(held.later)

    def _apply_rule_changes(self, later: list[tuple[RecordRequest, Stored]]) -> None:
        try:
            self.judgement.change_rules([req.data for req, _ in later], self.store, self.derived)
        except Exception as exc:  # logged, but not applied: the admin must hear it
            log.exception("rule change logged but not applied")
            for req, _ in later:
                req.done.set_exception(exc)
        else:
            for req, done in later:
                req.done.set_result(done)

    def _hold(self, stage: Literal["commit", "save"], exc: Exception, held: _Held) -> None:
        reason = f"{type(exc).__name__}: {exc}"[:300]
        if self.fault is None:
            self.fault = Fault(stage, reason, self.clock.now_ms(), retry_at=time.monotonic() + RETRY_FIRST_S)
            self.stats.stalls += 1
            log.error(
                "ingest stopped: %s failed (%s); nothing is acknowledged until it succeeds", stage, reason
            )
            self._tell_health()
        else:
            f = self.fault
            f.stage, f.reason, f.attempts = stage, reason, f.attempts + 1
            pause = min(RETRY_MAX_S, RETRY_FIRST_S * 2 ** min(f.attempts, 10))
            f.retry_at = time.monotonic() + pause
            if f.attempts % 10 == 0:
                log.error("ingest still stopped after %d tries: %s", f.attempts, reason)
        self._held = held

    def _retry_held(self) -> None:
        fault, held = self.fault, self._held
        assert fault is not None and held is not None
        pause = fault.retry_at - time.monotonic()
        if pause > 0:
            self._stop.wait(min(pause, TICK_S))
            return
        self._held = None
        if held.changes is not None:
            self._save(held)
        else:
            self._ingest(list(held.deliveries))
        if self._held is None:
            self._recovered(fault)

    def _recovered(self, fault: Fault) -> None:
        now = self.clock.now_ms()
        log.warning("ingest resumed after %.1f s (%s failed %d times)", (now - fault.since_ms) / 1000,
                    fault.stage, fault.attempts)  # fmt: skip
        self.fault = None
        self._tell_health()
        # the stall itself goes into the log, for the record and the INGEST-STALL rule
        request = RecordRequest(
            "ingest.stall",
            {},
            {"stage": fault.stage, "reason": fault.reason, "since": fault.since_ms, "until": now,
             "attempts": fault.attempts},
            HUB_AGENT,
            now,
        )  # fmt: skip
        self.queue.put(request)

    def _tell_health(self) -> None:
        if self.on_health is not None:
            try:
                self.on_health(self.fault)
            except Exception:
                log.exception("health report failed")

    # receipts ---------------------------------------------------------------------------------
    def _send_receipts(self, streams: set[Stream]) -> None:
        if not self.cfg.ingest.receipts:
            return
        for agent, epoch in streams:
            if agent == HUB_AGENT:
                continue
            # the contiguous mark, never past a hole: the agent may still hold what is missing
            mark = self.admission.contiguous((agent, epoch))
            if mark > 0 and self.outbound.receipt(agent, epoch, mark, self.clock.now_ms()):
                self.stats.receipts += 1

    def send_all_receipts(self) -> None:
        """Every stream's receipt again (on connect: the broker may be new and have none)."""
        if not self.cfg.ingest.receipts:
            return
        for (agent, epoch), mark in self.store.streams().items():
            if agent != HUB_AGENT and mark.next_expected > 1:
                self.outbound.receipt(agent, epoch, mark.next_expected - 1, self.clock.now_ms())

    def publish_anchor(self, now: int, *, force: bool = False) -> None:
        """The head, signed, retained on the broker — when the log grew since the last one (or on
        connect, ``force``: the broker may be new)."""
        pos, hash_ = self.store.head()
        due = pos and (force or pos != self._anchored_pos)
        if due and self.outbound.anchor(make_anchor(self.cfg.center, pos, hash_, now, self.hub_key)):
            self._anchored_pos = pos
        self._next_anchor_ms = now + self.cfg.store.anchor_every_s * 1000

    # timers -----------------------------------------------------------------------------------
    def _tick(self) -> None:
        now = self.clock.now_ms()
        if now >= self._next_prune_ms:  # hourly: alerts' pictures past alerts.evidence_days
            self._next_prune_ms = now + 3_600_000
            self.evidence.prune(now - self.cfg.alerts.evidence_days * 86_400_000)
            self.agent_files.prune(now - self.cfg.alerts.evidence_days * 86_400_000)
        if now >= self._next_anchor_ms:
            self.publish_anchor(now)
        if self.on_tick is not None:
            self.on_tick()
        core = self.judgement.core
        core.tick(now)
        changes = core.take_changes(now)
        if not changes.empty():
            self._save(_Held(changes=changes))

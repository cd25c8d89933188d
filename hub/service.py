"""The running hub: MQTT in, durable batches, judgement, alerts and registrations out.

Threads: paho's network thread hands each delivery to a queue; one ingest thread takes batches
(``ingest.batch_max`` messages or ``ingest.batch_ms``), admits them (verify, dedupe, quarantine),
commits the batch to the store, and only then acknowledges the deliveries (MQTT manual ack) — so
an acknowledged event is always on disk. The same thread folds the stored events into the
``HubCore``, saves what changed in one more transaction, publishes changed alerts (retained,
``{prefix}/{center}/alerts/{id}``) and band registrations (retained, for the agents), and fires
timers when they come due (the thread: hub/ingest.py). People's records (``record``) join the
same queue and the same log.

The hub's MQTT session is persistent (clean session off, a session expiry on v5): while the hub
is down, the broker keeps QoS 1 events for it, and agents' outboxes keep what the broker did not
accept. Configure the broker's per-client queue for the longest outage you plan for.
"""

from __future__ import annotations

import json
import logging
import threading
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from foundation.mqtt_link import MqttLink, Subscription
from foundation.settings import MqttSettings
from hub.accounts import AccountStore
from hub.admission import Admission
from hub.agent_files import AgentFiles
from hub.alerts import Alert, AlertBook
from hub.config import HubConfig
from hub.core import Changes, HubCore
from hub.coverage_watch import CoverageWatch
from hub.embedded_broker import EmbeddedBroker
from hub.errors import StoreError
from hub.http_server import HttpServer, hub_http
from hub.ingest import Delivery, Fault, Ingest, IngestStats, RecordRequest
from hub.judgement import RULES_DIGEST, Judgement
from hub.model_shelf import ModelShelf
from hub.notify.notifier import Notifier
from hub.outbound import Outbound, alert_payload
from hub.outputs import Outputs
from hub.packages import PackageDesk
from hub.plans import PlanFolder
from hub.projections import Projections, RoomInfo
from hub.queries import Queries
from hub.records import HUB_AGENT
from hub.report_source import ReportScheduler
from hub.rule_admin import OVERRIDES_META, apply_overrides, load_overrides
from hub.rules.engine import RuleEngine, load_rule_files, rule_file_paths
from hub.rules.spec import RuleFile
from hub.state_store import DerivedStore
from hub.store import HubStore, Stored
from hub.watching import Watches
from hub.web.evidence import EvidenceFolder
from hub.web.live import LiveFeed
from hub.web.snapshots import SnapshotCache
from protocol.anchor import make_anchor
from protocol.clock import Clock, SystemClock
from protocol.codec import Decoder
from protocol.errors import ProtocolError
from protocol.signing import Keyring
from protocol.topics import SnapshotTopic, TopicLayout

log = logging.getLogger(__name__)
CUSTODY_TAG = "custody-time"
SUBSCRIPTIONS = "mqtt_filters"


def open_store(cfg: HubConfig, lease: tuple[str, str] | None = None) -> HubStore:
    """The store the hub file names: its SQLite file, or its PostgreSQL server (the centre's chain)."""
    if cfg.store.backend == "postgresql":
        return HubStore(
            dsn=cfg.store.dsn,
            chain=cfg.center,
            schema=cfg.store.db_schema,
            quarantine_max=cfg.ingest.quarantine_max_rows,
            lease=lease,
        )
    return HubStore(
        cfg.store.path, synchronous=cfg.store.synchronous, quarantine_max=cfg.ingest.quarantine_max_rows
    )


class HubService:
    """The hub's parts, composed: store, admission, judgement, ingest thread, link, HTTP, notifier."""

    def __init__(
        self,
        cfg: HubConfig,
        base: Path,
        *,
        clock: Clock | None = None,
        lease: tuple[str, str] | None = None,
    ) -> None:
        """``lease``: ``(centre, worker)`` when a multi-centre hub's worker runs this centre: the
        store writes only while that lease holds (``hub.worker``)."""
        self.cfg = cfg
        self.base = base
        self.lease = lease
        self.clock = clock or SystemClock()
        prefix = cfg.mqtt.topic_prefix if cfg.mqtt else "casewatch"
        self.layout = TopicLayout(prefix)
        self.hub_key = cfg.signing.key_bytes()
        keyring = Keyring({a.id: a.key_bytes() for a in cfg.agents})
        self.agent_keys = keyring
        self.models = ModelShelf(cfg.models.dir or cfg.store.folder / "models")
        self.agent_files = AgentFiles(cfg.store.folder / "agent-files", keyring, self.layout)
        self.decoder = Decoder(
            keyring,
            now_ms=self.clock.now_ms,
            layout=self.layout,
            max_future_ms=cfg.ingest.max_future_s * 1000,
            max_age_ms=cfg.ingest.max_age_h * 3_600_000,
        )
        self.file_rules = load_rule_files(rule_file_paths(cfg.rules, base))
        self.outbound = Outbound(
            self.layout,
            cfg.center,
            self.hub_key,
            {r.id: r for r in self.file_rules.rules},
            agent_keys=keyring,
        )
        self.broker: EmbeddedBroker | None = None
        self.link: MqttLink | None = None
        self.http: HttpServer | None = None
        self.live = LiveFeed()
        self.reports: ReportScheduler | None = None
        self.snapshots = SnapshotCache(keyring, center=cfg.center)
        self.evidence = EvidenceFolder(cfg.store.folder / "evidence")
        self.plans = PlanFolder(cfg.store.folder / "plans")
        self._snapshot_warned: dict[str, int] = {}
        self.watches = Watches()
        self._watch_lock = threading.Lock()
        self.patrol_marks: dict[tuple[str, str], int] = {}
        self.finding_marks: dict[str, list[int]] = {}
        """Each user's recent remote reminders (hub/api/finding_routes.py rate limit)."""
        """When each (user, screen) last logged a patrol round (hub/api/patrol_routes.py)."""
        self.ready = threading.Event()
        self.ingest: Ingest | None = None
        self.coverage: CoverageWatch | None = None
        self.packages: PackageDesk | None = None

    # what readers see of the judgement (replaced whole by the ingest thread, never edited) ------
    @property
    def core(self) -> HubCore:
        return self.judgement.core

    @property
    def rules(self) -> RuleFile:
        return self.judgement.rules

    @property
    def rule_overrides(self) -> dict[str, dict[str, Any]]:
        return self.judgement.overrides

    @property
    def stats(self) -> IngestStats:
        return self.ingest.stats if self.ingest is not None else IngestStats()

    @property
    def fault(self) -> Fault | None:
        return self.ingest.fault if self.ingest is not None else None

    # lifecycle --------------------------------------------------------------------------------
    def open(self) -> HubService:
        """Open the store and restore state (no network): what ``start`` and ``rebuild`` share."""
        cfg = self.cfg
        self.store = open_store(cfg, self.lease)
        self.derived = DerivedStore(self.store)
        overrides = load_overrides(self.store.meta_get(OVERRIDES_META))
        rules = apply_overrides(self.file_rules, overrides)
        self.outbound.rules.update({r.id: r for r in rules.rules})
        self.judgement = Judgement(
            self._fresh_core(rules), self.file_rules, rules, overrides, cfg.timezone, self.outbound.rules
        )
        self.core.projections.load(self.derived.projection_rows())
        engine = self.core.engine
        same_rules = self.store.meta_get(RULES_DIGEST) == engine.digest
        engine.restore(self.derived.rule_states(), trust_due=same_rules)
        if not same_rules:  # new or edited rules: every due was recomputed; store them, then say so
            engine.mark_all_dirty()
            states = engine.take_dirty()
            self.derived.save(Changes(rule_states=states), {k: engine.state_due(k) for k in states})
            self.store.meta_set(RULES_DIGEST, engine.digest)
        self.core.book.restore(self.derived.live_alerts())
        self.core.pos = self.derived.rules_pos()
        self.admission = Admission(self.decoder)
        streams = self.store.streams()
        self.admission.restore(streams)
        hub_mark = streams.get((HUB_AGENT, ""))
        self.queries = Queries(self.store)
        self.accounts = AccountStore(self.store, cfg.users, cfg.center)
        self.notifier = Notifier(
            cfg, self.store, self.layout, self.outbound.rules, self.clock, self.alert_doc
        )
        self.outputs = Outputs(
            self.derived, self.notifier, self.outbound, self.evidence, self.snapshots, self.live
        )
        self.ingest = Ingest(
            cfg=cfg, clock=self.clock, store=self.store, derived=self.derived, admission=self.admission,
            judgement=self.judgement, outputs=self.outputs, outbound=self.outbound, evidence=self.evidence,
            agent_files=self.agent_files, hub_key=self.hub_key,
            hub_seq=hub_mark.next_expected if hub_mark else 1, on_health=self._on_health,
            on_tick=self.end_watches,
        )  # fmt: skip
        self._recording_desks()
        return self

    def _recording_desks(self) -> None:
        """What the hub does with the agents' continuous recording: coverage and packages."""
        cfg = self.cfg
        self.coverage = CoverageWatch(
            self.queries, lambda: self.core.projections, self._record_later, self.clock
        )
        folder = cfg.packages.dir or cfg.store.folder / "packages"
        self.packages = PackageDesk(
            folder, center=cfg.center, queries=self.queries, agent_files=self.agent_files,
            publish=lambda a, r, k: self.outbound.fetch(a, r, k, self.clock.now_ms()),
            record=self._record_later, hub_key=self.hub_key, clock=self.clock, wait_s=cfg.packages.wait_s,
            rooms={r.id: r.name for r in cfg.rooms}, alert_view=self.alert_view, head=self.store.head,
            evidence=self.evidence.folder,
        )  # fmt: skip
        coverage, packages, on_release = self.coverage, self.packages, cfg.packages.on_release

        def on_stored(stored: list[Stored]) -> None:
            coverage.on_stored(stored)
            packages.on_stored(stored, on_release)

        assert self.ingest is not None
        self.ingest.on_stored = on_stored

    def _record_later(self, kind: str, subject: dict[str, str], data: dict[str, Any], by: str) -> None:
        """Queue a record the hub makes itself, without waiting for it (its failure is logged)."""
        assert self.ingest is not None
        request = RecordRequest(kind, subject, data, by, None)

        def failed(done: Future[Stored]) -> None:
            if done.exception() is not None:
                log.error("%s not logged: %s", kind, done.exception())

        request.done.add_done_callback(failed)
        self.ingest.record(request)

    def alert_doc(self, alert_id: str) -> dict[str, Any] | None:
        """An alert as published (with its rule's title and basis), from the store."""
        alert = self.derived.alert(alert_id)
        return None if alert is None else self.alert_view(alert)

    def _fresh_core(self, rules: RuleFile) -> HubCore:
        rooms = {r.id: RoomInfo(r.id, r.name, r.type) for r in self.cfg.rooms}
        return HubCore(
            projections=Projections(self.cfg.center, rooms=rooms),
            engine=RuleEngine(rules, self.cfg.timezone),
            book=AlertBook(escalate_after_ms=int(self.cfg.alerts.escalate_after_h * 3_600_000)),
            load_alert=lambda alert_id: self.derived.alert(alert_id),
        )

    def catch_up(self) -> int:
        """Fold in events stored after the rules' mark (a crash between commit and save)."""
        n = 0
        for chunk in _chunks(self.store.iterate(after_pos=self.core.pos), 2000):
            self.core.process(chunk, self.clock.now_ms())
            self.outputs.save(self.core.take_changes(self.clock.now_ms()), self.core, publish=False)
            n += len(chunk)
        self.core.tick(self.clock.now_ms())
        self.outputs.save(self.core.take_changes(self.clock.now_ms()), self.core, publish=False)
        return n

    def rebuild(self) -> int:
        """Drop what was derived and replay the whole log in event time (the hub must be stopped)."""
        self.open()
        try:
            self.derived.clear()
            self.judgement.core = self._fresh_core(self.judgement.rules)
            n = 0
            for chunk in _chunks(self.store.iterate(), 5000):
                self.core.replay(chunk)
                self.outputs.save(self.core.take_changes(self.clock.now_ms()), self.core, publish=False,
                                  notify=False)  # fmt: skip
                n += len(chunk)
            self.core.tick(self.clock.now_ms())
            self.outputs.save(
                self.core.take_changes(self.clock.now_ms()), self.core, publish=False, notify=False
            )
            return n
        finally:
            self.store.close()

    def start(self, *, http: bool = True) -> HubService:
        """Open, catch up, then serve: the broker link, the ingest thread, notifications, HTTP."""
        self.open()
        assert self.ingest is not None
        if http:
            self.http = hub_http(self)
        caught = self.catch_up()
        if caught:
            log.info("folded in %d stored events the rules had not seen", caught)
        settings = self.cfg.mqtt
        if settings is None:
            eb = self.cfg.embedded_broker
            self.broker = EmbeddedBroker(eb.host, eb.port).start()
            settings = MqttSettings(host=eb.host, port=self.broker.port, protocol="3.1.1")
        share = self.cfg.workers.share_group
        owned = self.cfg.workers.agents or ["+"]
        filters = [
            f(self.cfg.center, agent)
            for agent in owned
            for f in (
                self.layout.events_filter,
                self.layout.stats_filter,
                self.layout.snapshots_filter,
                self.layout.files_filter,
            )
        ]
        subs = [Subscription(TopicLayout.shared(share, f) if share else f, 1) for f in filters]
        # The session outlives the process: filters of an earlier config (other agents, another
        # share group) would go on delivering. Forget those the store says were used before.
        self._filters = [s.topic for s in subs]
        before = json.loads(self.store.meta_get(SUBSCRIPTIONS) or "[]")
        self.link = MqttLink(
            settings=settings,
            client_id=settings.client_id or f"casewatch-hub-{self.cfg.center}",
            status_topic=self.layout.hub_status(self.cfg.center),
            subscriptions=subs,
            on_delivery=self._on_delivery,
            manual_ack=True,
            persistent_session=True,
            unsubscribe=[f for f in before if f not in self._filters],
            on_connected=self._on_connected,
        )
        self.outbound.link = self.link
        self.ingest.ack = self.link.ack
        self.store.writer = self.ingest.run_sync  # other threads' writes queue behind the batches
        self.notifier.start(self.link)
        if self.cfg.reports.scheduled:
            self.reports = ReportScheduler(self, self.reports_dir).start()
        self.ingest.start()
        assert self.coverage is not None and self.packages is not None
        self.coverage.start()
        self.packages.start()
        self.link.start()
        if self.http is not None:
            self.http.start()
            log.info("HTTP API on %s/api/v1", self.http.url)
        return self

    @property
    def reports_dir(self) -> Path:
        return self.cfg.reports.dir or self.cfg.store.folder / "reports"

    @property
    def custody_rules(self) -> list[str]:
        """Rules tagged ``custody-time``: the deadlines the console shows as time in the centre."""
        return [r.id for r in self.rules.rules if CUSTODY_TAG in r.tags]

    def anchor_now(self) -> str | None:
        """The log's head signed now (for reports); None while the log is empty."""
        pos, hash_ = self.store.head()
        if not pos:
            return None
        return make_anchor(self.cfg.center, pos, hash_, self.clock.now_ms(), self.hub_key).decode()

    def running(self) -> bool:
        return self.ingest is not None and self.ingest.running()

    def alert_view(self, alert: Alert) -> dict[str, Any]:
        """An alert as the API and MQTT show it: with its rule's title, basis and level name."""
        doc: dict[str, Any] = json.loads(alert_payload(alert, self.outbound.rules.get(alert.rule)))
        return doc

    def stop(self, *, handing_over: bool = False) -> None:
        """``handing_over``: another hub worker owns the centre now; its retained status is left
        to the new owner (no ``offline`` from here)."""
        if self.http is not None:
            self.http.stop()
        if self.coverage is not None:
            self.coverage.stop()
        if self.packages is not None:
            self.packages.stop()
        if self.ingest is not None:
            self.ingest.stop()
        self.notifier.stop()
        if self.reports is not None:
            self.reports.stop()
        if self.link is not None:
            self.link.stop(say_offline=not handing_over)
        if self.broker is not None:
            self.broker.stop()
        self.store.close()

    # inputs (paho's network thread) -------------------------------------------------------------
    def _on_delivery(self, topic: str, payload: bytes, mid: int, qos: int) -> None:
        if "/snapshots/" in topic:  # JPEG bytes for the console, not an event: kept, never logged
            self._keep_snapshot(topic, payload, mid, qos)
            return
        if topic.endswith("/files"):  # an agent's evidence file: kept beside the store, not logged
            self._keep_file(topic, payload, mid, qos)
            return
        assert self.ingest is not None
        self.ingest.put(Delivery(topic, payload, mid, qos, self.clock.now_ms()))

    def watch(self, camera: str) -> str | None:
        """Someone is watching ``camera``: its agent is asked for pictures often (protocol/watch.py).
        The agent that owns it, or None for a camera no agent reported."""
        owner = self.camera_owner(camera)
        if owner is None:
            found = self.snapshots.get(camera)  # heard from only by its pictures: their agent
            owner = found.agent if found is not None else None
        if owner is None:
            return None
        with self._watch_lock:  # what is published last is what the agent keeps (retained)
            request = self.watches.add(owner, camera, self.clock.now_ms())
            if request is not None:
                self.outbound.watch(owner, request, self.clock.now_ms())
        return owner

    def end_watches(self) -> None:
        """Watches nobody renewed: each agent is told what is left (the ingest thread's timer)."""
        now = self.clock.now_ms()
        with self._watch_lock:
            for agent, left in self.watches.expire(now).items():
                self.outbound.watch(agent, left, now)

    def camera_owner(self, camera: str) -> str | None:
        """The agent whose signed health events name the camera (None until one has)."""
        found = self.core.projections.cameras.get(camera) or {}
        owner = found.get("agent")
        return str(owner) if owner else None

    def _keep_snapshot(self, topic: str, payload: bytes, mid: int, qos: int) -> None:
        camera = None
        try:
            parsed = self.layout.parse(topic)
            if isinstance(parsed, SnapshotTopic):
                camera = self.snapshots.receive(parsed, payload, self.clock.now_ms())
        except ProtocolError as exc:  # counted in the cache; logged at most once a minute per agent
            self._log_refused_snapshot(topic, exc)
        except Exception:  # never leave a delivery unacknowledged: it would stall the broker's window
            log.exception("snapshot on %s not kept", topic)
        if self.link is not None and qos > 0:
            self.link.ack(mid, qos)
        if camera is not None:
            self.live.publish({"snapshot": camera})

    def _log_refused_snapshot(self, topic: str, exc: Exception) -> None:
        now = self.clock.now_ms()
        if len(self._snapshot_warned) > 1000:  # junk topics must not grow it
            self._snapshot_warned.clear()
        if now - self._snapshot_warned.get(topic[:200], -(10**12)) >= 60_000:
            self._snapshot_warned[topic[:200]] = now
            log.warning("snapshot on %s refused: %s", topic[:200], exc)

    def _keep_file(self, topic: str, payload: bytes, mid: int, qos: int) -> None:
        try:
            path = self.agent_files.receive(topic, payload)
        except Exception:  # counted and acknowledged: an unacknowledged message stalls the window
            self.agent_files.counters["files_errors"] += 1
            log.exception("evidence file on %s not kept", topic)
            path = None
        if self.link is not None and qos > 0:  # after the write: a crash before it gets it again
            self.link.ack(mid, qos)
        if path is not None:
            self.live.publish({"file": path})
            if self.packages is not None:
                self.packages.on_file(path)

    def record(
        self,
        kind: str,
        subject: dict[str, str],
        data: dict[str, Any],
        *,
        by: str,
        ts: int | None = None,
        timeout_s: float = 10.0,
    ) -> Stored:
        """Log a record made by a person (validated first); returns it once committed."""
        from hub.records import validate_record

        validate_record(kind, subject, data)
        if self.ingest is None:
            raise StoreError("the hub is not running")
        request = RecordRequest(kind, subject, data, by, ts)
        self.ingest.record(request)
        return request.done.result(timeout_s)

    # outputs ----------------------------------------------------------------------------------
    def _on_health(self, fault: Fault | None) -> None:
        """A stall began or ended: the retained status says so (agents hold their events meanwhile)."""
        if self.link is None:
            return
        self.link.set_status(b"online" if fault is None else f"degraded: {fault.reason}".encode()[:400])

    def _on_connected(self) -> None:
        """Connect-time work goes through the ingest queue: that thread alone writes and publishes."""
        assert self.ingest is not None
        self.ingest.call(self._after_connect, "after connect")

    def _after_connect(self) -> None:
        self.store.meta_set(SUBSCRIPTIONS, json.dumps(self._filters))
        self._republish_registry()
        assert self.ingest is not None
        self.ingest.send_all_receipts()
        self.ingest.publish_anchor(self.clock.now_ms(), force=True)
        if self.packages is not None:
            self.packages.republish()
        self.ready.set()

    def _republish_registry(self) -> None:
        """On every (re)connect: retained registrations of every bound band (the broker may be new)."""
        now = self.clock.now_ms()
        for band in list(self.core.projections.bands):
            reg = self.core.projections.registration(band, now)
            if reg is not None:
                self.outbound.registration(band, reg)


def _chunks(items: Any, size: int) -> Any:
    chunk: list[Stored] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk

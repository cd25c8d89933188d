"""The edge agent process: cameras -> observations -> room state -> conditions -> signed events
-> outbox -> MQTT, plus the hub's band registry coming the other way.

Threads: the vision service's own (readers, detector, evidence, timer), paho's network loop, the
publisher, one timer here (conditions every second, stats, heartbeats, snapshots, outbox bounds),
and the ops HTTP server. Everything that changes state goes through ``_lock``.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent import reporting
from agent.conditions import Candidate, ConditionTracker, Ended, Started, candidates
from agent.config import AgentConfig
from agent.emitter import Draft, Emitter
from agent.ops import Metric, OpsServer
from agent.outbox import Outbox, OutboxError
from agent.outbox_keeper import OutboxKeeper
from agent.publisher import Publisher
from agent.recording_service import RecordingService, recordings_dir
from agent.room_state import ENDED, Fusion
from agent.segment_clips import ClipJob
from agent.snapshots import SnapshotSender
from agent.uploads import EvidenceUploads
from detectors.detection import Detector
from detectors.observations import ClipObservation, HealthObservation, Observation, ZoneObservation
from devices.events import DeviceEvent
from foundation.mqtt_link import MqttLink, Subscription
from protocol.anchor import read_anchor
from protocol.clock import Clock, SystemClock
from protocol.data import AgentStats, Evidence
from protocol.errors import ProtocolError
from protocol.ids import uuid7
from protocol.registry import decode_registration, registry_keyring
from protocol.topics import RegistryBandTopic, TopicLayout
from protocol.watch import decode_watch

if TYPE_CHECKING:
    from detectors.vision import VisionService

log = logging.getLogger(__name__)
MAX_ANCHOR_AHEAD_MS = 300_000


class Agent:
    def __init__(
        self, config: AgentConfig, *, clock: Clock | None = None, detector: Detector | None = None
    ) -> None:
        self.config = config
        self.clock = clock or SystemClock()
        self.layout = TopicLayout(config.mqtt.topic_prefix)
        self.started_mono = time.monotonic()
        storage = Path(config.storage.dir)
        storage.mkdir(parents=True, exist_ok=True)
        self.outbox = Outbox(
            storage / "outbox.db",
            max_events=config.outbox.max_events,
            max_age_s=config.outbox.max_age_days * 86400,
            synchronous=config.outbox.synchronous,
        )
        self.link = self._control_link()
        self.publisher = Publisher(
            self.outbox, self.link, wait_for_hub=config.outbox.wait_for_hub, receipts=config.outbox.receipts,
            receipt_timeout_s=config.outbox.receipt_timeout_s, max_unconfirmed=config.outbox.max_unconfirmed,
        )  # fmt: skip
        self.uploads = self._evidence_uploads(storage)
        self.emitter = Emitter(
            self.outbox, key=config.signing.key_bytes(), center=config.center, agent=config.agent,
            layout=self.layout, clock=self.clock, on_stored=self.publisher.notify,
        )  # fmt: skip
        self.fusion = Fusion(config.rooms, config.cameras)
        timing = config.timing
        self.conditions = ConditionTracker(
            new_id=uuid7,
            start_after_ms=int(timing.condition_start_s * 1000),
            end_after_ms=int(timing.condition_end_s * 1000),
        )
        registry = config.registry_key
        self.registry_keys = registry_keyring(registry.key_bytes()) if registry else None
        counted = ("registry_rejected", "registry_accepted", "emit_errors", "anomalies", "anchors_kept")
        self.counters = dict.fromkeys((*counted, "anchors_rejected", "watch_rejected"), 0)
        self.keeper = OutboxKeeper(
            self.outbox, self.emitter, self.publisher, key=config.signing.key_bytes(), center=config.center,
            agent=config.agent, counters=self.counters,
        )  # fmt: skip
        self._key = config.signing.key_bytes()
        self._lock = threading.RLock()
        self._snapshots: dict[str, str] = {}  # camera -> latest snapshot path
        self._clip_conditions: dict[str, str] = {}  # clip id -> condition id
        self._stop = threading.Event()
        self._timer = threading.Thread(target=self._timer_loop, name="agent-timer", daemon=True)
        self.vision = self._vision(storage, detector) if config.cameras else None
        self.snapshots = self._snapshot_sender() if self.vision is not None else None
        self.recording = self._recording(storage) if config.recording.enabled and config.cameras else None
        self.devices = None
        if config.devices:
            from devices.service import DeviceService, DeviceStateStore

            store = DeviceStateStore(load=self.outbox.device_state, save_with=self._on_device_events)
            self.devices = DeviceService(
                config.devices, self._on_device_events, clock=self.clock, store=store
            )
        self.ops: OpsServer | None = None
        if config.ops.enabled:
            self.ops = OpsServer(config.ops.host, config.ops.port, self.metrics, self.health)

    def _control_link(self) -> MqttLink:
        """The MQTT link for events, the band registry, the hub's status and this agent's receipt."""
        config = self.config
        return MqttLink(
            config.mqtt,
            config.mqtt.client_id or f"casewatch-{config.center}-{config.agent}",
            self.layout.status(config.center, config.agent),
            on_message=self._on_message,
            subscriptions=[
                Subscription(self.layout.registry_filter(config.center)),
                Subscription(self.layout.hub_status(config.center)),
                Subscription(self.layout.receipt(config.center, config.agent)),
                Subscription(self.layout.hub_anchor(config.center)),
                Subscription(self.layout.watch(config.center, config.agent)),
                Subscription(self.layout.fetch(config.center, config.agent)),
            ],
        )

    def _recording(self, storage: Path) -> RecordingService:
        """Continuous recording and the hub's segment requests (agent/recording_service.py)."""
        return RecordingService(
            self.config, storage, clock=self.clock, emit=self.emit,
            send=self.uploads.add if self.uploads is not None else None, registry_keys=self.registry_keys,
            frames=self.vision.latest_frame if self.vision is not None else None,
            on_clip=self._on_observation,
        )  # fmt: skip

    def _snapshot_sender(self) -> SnapshotSender:
        """The cameras' pictures to the hub: every 10 s, and often while the hub asks (agent/snapshots.py)."""
        config, vision = self.config, self.vision
        assert vision is not None

        def publish(topic: str, payload: bytes) -> None:
            self.link.publish(topic, payload, qos=0, retain=True)

        return SnapshotSender(
            center=config.center, agent=config.agent, cameras=[c.id for c in config.cameras],
            key=config.signing.key_bytes(), clock=self.clock, frame=vision.latest_frame, publish=publish,
            topic=lambda camera: self.layout.snapshot(config.center, config.agent, camera),
            connected=self.link.connected.is_set,
        )  # fmt: skip

    def _evidence_uploads(self, storage: Path) -> EvidenceUploads | None:
        """Snapshots and clips to the hub on a link of their own, so files never delay events."""
        config = self.config
        if not (config.storage.upload_evidence and config.cameras):
            return None
        client_id = config.mqtt.client_id or f"casewatch-{config.center}-{config.agent}"
        files_link = MqttLink(config.mqtt, client_id + "-files", None)
        return EvidenceUploads(
            storage, storage / "uploads.db", files_link, self.layout.files(config.center, config.agent),
            center=config.center, agent=config.agent, key=config.signing.key_bytes(), clock=self.clock,
            max_bytes=int(config.storage.upload_max_mb * 1024 * 1024),
            ready=self.publisher.hub_online.is_set, roots={"segments": recordings_dir(config, storage)},
        )  # fmt: skip

    def _vision(self, storage: Path, detector: Detector | None) -> VisionService:
        """The cameras' service, with the detector the ``model:`` section names unless one is given."""
        from detectors.config import PluginSource
        from detectors.sources import plugin_options
        from detectors.vision import VisionService, settings_from_config

        config = self.config
        for camera in config.cameras:  # an unknown plugin or bad options: refuse now, not every second
            if isinstance(camera.source, PluginSource):
                plugin_options(camera.source)
        if detector is None:
            from detectors.detection import load_detector
            from detectors.models import ModelStore

            m = config.model
            weights = ModelStore(m.dir).resolve_for(m.name, m.format, m.imgsz, m.path)
            detector = load_detector(
                weights, imgsz=m.imgsz, confidence=m.confidence, device=m.device, threads=m.threads
            )
        return VisionService(
            config.cameras, detector, self._on_observation, clock=self.clock, evidence_root=storage,
            settings=settings_from_config(config.vision),
            retention_days=config.storage.snapshot_retention_days,
        )  # fmt: skip

    # lifecycle -------------------------------------------------------------------------------------
    def start(self) -> Agent:
        log.info(
            "agent %s/%s starting: %d rooms, %d cameras, outbox %d pending (next seq %d)",
            self.config.center, self.config.agent, len(self.config.rooms), len(self.config.cameras),
            self.outbox.depth(), self.outbox.next_seq(),
        )  # fmt: skip
        if self.ops is not None:
            self.ops.start()
            log.info("metrics on http://%s:%d/metrics", self.config.ops.host, self.ops.port)
        self.link.start()
        self.publisher.start()
        if self.uploads is not None:
            self.uploads.start()
        if self.vision is not None:
            self.vision.start()
        if self.snapshots is not None:
            self.snapshots.start()
        if self.recording is not None:
            self.recording.start()
        if self.devices is not None:
            self.devices.start()
        self._timer.start()
        return self

    def stop(self, *, drain_s: float = 5.0) -> None:
        """Stop sensing, give the publisher ``drain_s`` to empty the outbox, say offline, close.

        With receipts the outbox empties as the hub confirms what it stored; what is left stays
        for the next start."""
        log.info("agent stopping (outbox %d pending)", self.outbox.depth())
        self._stop.set()
        if self.snapshots is not None:
            self.snapshots.stop()
        if self.recording is not None:
            self.recording.stop()
        if self.vision is not None:
            self.vision.stop()
        if self.devices is not None:
            self.devices.stop()
        deadline = time.monotonic() + drain_s
        while (
            self.outbox.depth()
            and self.link.connected.is_set()
            and self.publisher.hub_online.is_set()
            and time.monotonic() < deadline
        ):
            self.publisher.notify()
            time.sleep(0.05)
        self.publisher.stop()
        self.link.stop()
        if self.uploads is not None:
            self.uploads.stop()
        self._timer.join(5)
        if self.ops is not None:
            self.ops.stop()
        log.info("agent stopped (outbox %d pending, kept for the next start)", self.outbox.depth())
        self.outbox.close()

    # inputs ----------------------------------------------------------------------------------------
    def emit(self, drafts: list[Draft]) -> None:
        """Store events in the outbox (held in memory while it cannot take them: agent/outbox_keeper.py)."""
        self.keeper.emit(drafts)

    def unstored(self) -> int:
        return self.keeper.unstored()

    def _on_observation(self, obs: Observation) -> None:
        with self._lock:
            if isinstance(obs, ZoneObservation):
                self.fusion.zone(obs.camera, obs.zone, obs.count)
                if obs.snapshot:
                    self._snapshots[obs.camera] = obs.snapshot
                subject = {"room": obs.room, "camera": obs.camera, "zone": obs.zone}
                self.emit([Draft("occupancy", obs.camera, subject, obs.data(), obs.since_ms)])
            elif isinstance(obs, HealthObservation):
                self.fusion.camera(obs.camera, obs.state)
                if obs.snapshot:
                    self._snapshots[obs.camera] = obs.snapshot
                self.emit(
                    [
                        Draft(
                            "camera.health",
                            obs.camera,
                            {"camera": obs.camera, "room": obs.room},
                            obs.data(),
                            obs.since_ms,
                        )
                    ]
                )
            elif isinstance(obs, ClipObservation):
                data = obs.data().model_copy(
                    update={"condition_id": self._clip_conditions.pop(obs.clip_id, None)}
                )
                self.emit(
                    [
                        Draft(
                            "evidence.clip",
                            obs.camera,
                            {"camera": obs.camera, "room": obs.room},
                            data,
                            obs.end_ms,
                        )
                    ]
                )
                self._queue_upload(obs.path)

    def _on_device_events(self, events: list[DeviceEvent], states: dict[str, str] | None = None) -> None:
        """Device events, and the device states they leave behind (stored in the same commit)."""
        with self._lock:
            for event in events:
                if event.kind == "band.position":
                    self.fusion.band(event.subject["band"], event.room)
        self.keeper.emit([Draft(e.kind, e.source, e.subject, e.data, e.ts) for e in events], states)

    def _on_message(self, topic: str, payload: bytes, _retained: bool) -> None:
        if topic == self.layout.hub_status(self.config.center):
            online = payload.strip() == b"online"
            if online != self.publisher.hub_online.is_set():
                log.info("hub is %s: %s", "online" if online else "offline",
                         "publishing" if online else "events wait in the outbox")  # fmt: skip
            self.publisher.set_hub_online(online)
            return
        if topic == self.layout.receipt(self.config.center, self.config.agent):
            self.keeper.on_receipt(payload)
            return
        if topic == self.layout.hub_anchor(self.config.center):
            self._keep_anchor(payload)
            return
        if topic == self.layout.watch(self.config.center, self.config.agent):
            self._watch(payload)
            return
        if topic == self.layout.fetch(self.config.center, self.config.agent):
            if self.recording is not None:
                self.recording.on_fetch(payload)
            return
        try:
            parsed = self.layout.parse(topic)
        except ProtocolError:
            return
        if not isinstance(parsed, RegistryBandTopic):
            return
        if self.registry_keys is None:
            self.counters["registry_rejected"] += 1
            log.warning("band registration for %s ignored: no registry_key configured", parsed.band)
            return
        try:
            registration = decode_registration(payload, self.registry_keys)
        except ProtocolError as exc:
            self.counters["registry_rejected"] += 1
            log.warning("band registration for %s rejected: %s", parsed.band, exc)
            return
        if registration is not None and registration.band != parsed.band:
            self.counters["registry_rejected"] += 1
            log.warning("registration for %s arrived on the topic of %s", registration.band, parsed.band)
            return
        with self._lock:
            self.fusion.register(parsed.band, registration)
        self.counters["registry_accepted"] += 1

    def _watch(self, payload: bytes) -> None:
        """The hub asks for some cameras' pictures often (an operator watches them): signed with the
        registry key; without one, or an empty payload, nothing is watched."""
        if self.snapshots is None or self.registry_keys is None or not payload:
            return
        try:
            request = decode_watch(
                payload, self.registry_keys, center=self.config.center, agent=self.config.agent
            )
        except ProtocolError as exc:
            self.counters["watch_rejected"] += 1
            log.warning("watch request rejected: %s", exc)
            return
        self.snapshots.watch(request)

    def _keep_anchor(self, payload: bytes) -> None:
        """The hub's signed log head, kept off the hub's disk (its ``rsig`` checked with the
        registry key when the agent has one; its form only otherwise — ``hub verify`` checks its
        ``sig``). One dated ahead of this box's clock is refused."""
        now = self.clock.now_ms()
        try:
            anchor = read_anchor(payload, self.registry_keys, self.config.center, field="rsig")
            if anchor.ts > now + MAX_ANCHOR_AHEAD_MS:
                raise ProtocolError("anchor dated ahead of this box's clock")
            verified = self.registry_keys is not None
            self.outbox.keep_anchor(payload.decode(), anchor.ts, now, verified=verified)
        except (ProtocolError, OutboxError, UnicodeDecodeError) as exc:
            self.counters["anchors_rejected"] += 1
            log.warning("hub anchor not kept: %s", exc)
            return
        self.counters["anchors_kept"] += 1

    # periodic work ---------------------------------------------------------------------------------
    def _timer_loop(self) -> None:
        timing = self.config.timing
        next_stats = time.monotonic() + timing.stats_interval_s
        next_heartbeat = time.monotonic() + timing.heartbeat_interval_s
        next_bounds = time.monotonic()
        while not self._stop.wait(min(1.0, timing.heartbeat_interval_s, timing.stats_interval_s)):
            now = time.monotonic()
            try:
                self.keeper.flush()
                self.evaluate_conditions()
                if now >= next_heartbeat:
                    next_heartbeat = now + timing.heartbeat_interval_s
                    self.emit(
                        [
                            Draft(
                                "agent.heartbeat",
                                self.config.agent,
                                {},
                                {"uptime_s": self.uptime()},
                                self.clock.now_ms(),
                            )
                        ]
                    )
                if now >= next_stats:
                    next_stats = now + timing.stats_interval_s
                    self.emit(
                        [Draft("agent.stats", self.config.agent, {}, self.stats(), self.clock.now_ms())]
                    )
                if now >= next_bounds:
                    next_bounds = now + 60
                    shed = self.outbox.enforce_bounds(self.clock.now_ms())
                    if shed:
                        log.warning("outbox over its bounds: shed %d events", shed)
            except Exception:
                log.exception("agent timer step failed")

    def evaluate_conditions(self) -> None:
        now = self.clock.now_ms()
        with self._lock:
            found: list[Candidate] = []
            states = self.fusion.states()
            for state in states.values():
                found += candidates(state, self.fusion)
            ended = frozenset(room for room, state in states.items() if state.source_ended)
            changes = self.conditions.evaluate(found, now, self._evidence, ended_rooms=ended)
            for anomaly in self.fusion.anomalies:
                log.warning("room state: %s", anomaly)
            self.counters["anomalies"] += len(self.fusion.anomalies)
            self.fusion.anomalies.clear()
        drafts = []
        for change in changes:
            kind = "condition.start" if isinstance(change, Started) else "condition.end"
            drafts.append(Draft(kind, self.config.agent, {"room": change.room}, change.data, change.at_ms))
            if isinstance(change, Ended):
                log.info("condition %s in %s ended", change.data.condition, change.room)
            else:
                log.warning("condition %s in %s", change.data.condition, change.room)
        if drafts:
            self.emit(drafts)
        for change in changes:  # after the events are stored: a failing queue must not cost one
            if isinstance(change, Started) and change.data.evidence.snapshot:
                self._queue_upload(change.data.evidence.snapshot)

    def _queue_upload(self, path: str) -> None:
        if self.uploads is None:
            return
        try:
            self.uploads.add(path)
        except Exception:
            self.counters["emit_errors"] += 1
            log.exception("evidence file %s not queued for the hub", path)

    def _evidence(self, candidate: Candidate, condition_id: str) -> Evidence:
        cameras = [
            c.id for c in self.config.cameras
            if c.room == candidate.room and self.fusion.camera_health.get(c.id) != ENDED
        ]  # fmt: skip
        if not cameras or self.vision is None:  # a file read to its end records nothing more
            return Evidence()
        before, after = self.config.vision.clip_before_s, self.config.vision.clip_after_s
        at = self.clock.now_ms()
        clip_id = uuid7(at)
        self._clip_conditions[clip_id] = condition_id
        start, end = at - int(before * 1000), at + int(after * 1000)
        if self.recording is not None and self.recording.records(cameras[0]):  # cut from the recording
            self.recording.clips.request(ClipJob(clip_id, cameras[0], candidate.room, None, start, end))
        else:
            self.vision.request_clip(clip_id, cameras[0], at, before_s=before, after_s=after)
        return Evidence(
            snapshot=self._snapshots.get(cameras[0]),
            clip_id=clip_id,
            clip_start=start,
            clip_end=end,
        )

    # reporting (agent/reporting.py) -------------------------------------------------------------
    def uptime(self) -> float:
        return round(time.monotonic() - self.started_mono, 1)

    def stats(self) -> AgentStats:
        return reporting.stats(self)

    def health(self) -> dict[str, Any]:
        return reporting.health(self)

    def metrics(self) -> list[Metric]:
        return reporting.metrics(self)

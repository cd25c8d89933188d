"""The vision service of one agent: every camera, one shared detector, evidence, observations.

Threads: one reader per camera (capture, health, motion gate, ring buffer), one detector thread
(the pool), one timer (offline detection). Observations go to a sink callback, which must be
quick and must not raise (the agent puts them in its outbox).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from detectors.capture import CameraReader
from detectors.config import Camera, FileSource, VisionTuning
from detectors.detection import Detection, Detector
from detectors.detector_pool import DetectorPool
from detectors.evidence import ClipRecorder, ClipRequest, FrameRing, SnapshotStore, annotate
from detectors.health import HealthChange, HealthLimits
from detectors.observations import ClipObservation, HealthObservation, Observation, ZoneObservation
from detectors.pipeline import CameraPipeline, GatePolicy
from detectors.regions import Crop, RegionPolicy
from detectors.tracker import Track
from detectors.zones import ZoneChange, ZoneShape
from protocol.clock import Clock

log = logging.getLogger(__name__)

Sink = Callable[[Observation], None]


@dataclass
class VisionSettings:
    policy: GatePolicy = field(default_factory=GatePolicy)
    health: HealthLimits = field(default_factory=HealthLimits)
    ring_seconds: float = 25.0
    ring_width: int = 640
    """Frames kept for clips are scaled to this width: clips stay small and cheap to encode."""
    max_batch: int = 4
    tick_s: float = 1.0
    regions: RegionPolicy | None = field(default_factory=RegionPolicy)
    """Crops of large frames beside the whole frame (``detectors.regions``); ``None``: whole frame only."""


def settings_from_config(tuning: VisionTuning, max_batch: int = 4) -> VisionSettings:
    """The agent config's ``vision:`` section as service settings."""
    return VisionSettings(
        policy=GatePolicy(
            recheck_s=tuning.recheck_s, idle_recheck_s=tuning.idle_recheck_s, inertia_s=tuning.inertia_s
        ),
        health=HealthLimits(
            offline_after_s=tuning.offline_after_s,
            frozen_after_s=tuning.frozen_after_s,
            covered_after_s=tuning.covered_after_s,
            defocus_after_s=tuning.defocus_after_s,
            moved_after_s=tuning.moved_after_s,
        ),
        ring_seconds=tuning.clip_before_s + tuning.clip_after_s + 5.0,
        max_batch=max_batch,
        regions=tuning.detection.policy(),
    )


@dataclass
class _CameraState:
    camera: Camera
    pipeline: CameraPipeline
    ring: FrameRing
    lock: threading.Lock = field(default_factory=threading.Lock)
    reader: CameraReader | None = None
    delivered: deque[float] = field(default_factory=lambda: deque(maxlen=50))
    latest_frame: np.ndarray | None = None


def zone_shapes(camera: Camera) -> list[ZoneShape]:
    return [ZoneShape(z.id, z.role, tuple((float(x), float(y)) for x, y in z.polygon)) for z in camera.zones]


class VisionService:
    def __init__(
        self,
        cameras: Sequence[Camera],
        detector: Detector,
        sink: Sink,
        *,
        clock: Clock,
        evidence_root: Path,
        settings: VisionSettings | None = None,
        retention_days: int = 30,
    ) -> None:
        self.settings = settings or VisionSettings()
        self.clock = clock
        self.sink = sink
        self.pool = DetectorPool(detector, max_batch=self.settings.max_batch)
        self.snapshots = SnapshotStore(evidence_root, retention_days=retention_days)
        self.clips = ClipRecorder(evidence_root)
        self.latencies_ms: deque[float] = deque(maxlen=5000)
        self.errors = 0
        self._cameras = {
            cam.id: _CameraState(
                cam,
                CameraPipeline(
                    cam.id,
                    zone_shapes(cam),
                    self.settings.policy,
                    self.settings.health,
                    regions=self.settings.regions,
                ),
                FrameRing(self.settings.ring_seconds),
            )
            for cam in cameras
        }
        self.snapshots_skipped = 0
        self._evidence: queue.Queue[Callable[[], None] | None] = queue.Queue(maxsize=64)
        self._evidence_thread = threading.Thread(
            target=self._evidence_loop, name="vision-evidence", daemon=True
        )
        self._stop = threading.Event()
        self._timer = threading.Thread(target=self._tick_loop, name="vision-timer", daemon=True)

    # lifecycle ------------------------------------------------------------------------------
    def start(self) -> VisionService:
        self.pool.start()
        self._evidence_thread.start()
        for state in self._cameras.values():
            state.reader = CameraReader(
                state.camera, self._on_frame, clock=self.clock, on_error=self._on_error
            )
            state.reader.start()
        self._timer.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for state in self._cameras.values():
            if state.reader is not None:
                state.reader.stop()
        self.pool.stop()
        self._timer.join(5)
        self._evidence.put(None)
        self._evidence_thread.join(10)

    def reader(self, camera: str) -> CameraReader | None:
        return self._cameras[camera].reader

    def pipeline(self, camera: str) -> CameraPipeline:
        return self._cameras[camera].pipeline

    # evidence on request ----------------------------------------------------------------------
    def request_clip(
        self, clip_id: str, camera: str, at_ms: int, *, before_s: float = 10.0, after_s: float = 10.0
    ) -> None:
        self.clips.request(clip_id, camera, at_ms, before_s=before_s, after_s=after_s)

    def latest_frame(self, camera: str) -> np.ndarray | None:
        return self._cameras[camera].latest_frame

    def fps(self, camera: str) -> float:
        times = self._cameras[camera].delivered
        if len(times) < 2 or times[-1] == times[0]:
            return 0.0
        return (len(times) - 1) / (times[-1] - times[0])

    def latency_p95_ms(self) -> float | None:
        if not self.latencies_ms:
            return None
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]

    # threads --------------------------------------------------------------------------------
    def _emit(self, observation: Observation) -> None:
        try:
            self.sink(observation)
        except Exception:
            self.errors += 1
            log.exception("observation sink failed")

    def _on_frame(self, camera_id: str, frame: np.ndarray, ts_ms: int) -> None:
        state = self._cameras[camera_id]
        received = time.monotonic()
        state.delivered.append(received)
        state.latest_frame = frame
        # One reduced copy serves motion, health and the clip ring: resizing a 1080p frame once.
        small = frame
        if frame.shape[1] > self.settings.ring_width:
            height = round(frame.shape[0] * self.settings.ring_width / frame.shape[1])
            small = cv2.resize(frame, (self.settings.ring_width, height), interpolation=cv2.INTER_AREA)
        with state.lock:
            change = state.pipeline.health(small, ts_ms)
            detect = state.pipeline.needs_detection(small, ts_ms)
            crops = state.pipeline.plan_crops(frame.shape[1], frame.shape[0], ts_ms) if detect else []
        if change is not None:
            self._health(state, change, frame, ts_ms)
        state.ring.add(small, ts_ms)
        if self.clips.pending():
            for request in self.clips.due(camera_id, ts_ms):
                self._write_clip(state, request)
        if detect:
            live = not isinstance(state.camera.source, FileSource) or state.camera.source.pace

            def done(found: list[list[Detection]]) -> None:
                self._detected(state, frame, ts_ms, found, crops, received)

            images = [frame, *(crop.cut(frame) for crop in crops)]
            self.pool.submit(camera_id, images, done, block=not live)

    def _detected(
        self,
        state: _CameraState,
        frame: np.ndarray,
        ts_ms: int,
        found: list[list[Detection]],
        crops: list[Crop],
        received: float,
    ) -> None:
        height, width = frame.shape[:2]
        with state.lock:
            changes = state.pipeline.observe(
                found[0], width, height, ts_ms, list(zip(crops, found[1:], strict=True))
            )
            tracks = list(state.pipeline.last_tracks)
        self.latencies_ms.append((time.monotonic() - received) * 1000)
        if not changes:
            return
        snapshot = self._snapshot(state, frame, ts_ms, tracks)
        roles = {zone.id: zone.role for zone in state.camera.zones}
        for change in changes:
            self._emit(self._zone_observation(state, change, roles[change.zone], snapshot))

    def _zone_observation(
        self, state: _CameraState, change: ZoneChange, role: str, snapshot: str | None
    ) -> ZoneObservation:
        return ZoneObservation(
            camera=state.camera.id,
            room=state.camera.room,
            zone=change.zone,
            role=role,
            count=change.count,
            previous=change.previous,
            track_ids=change.track_ids,
            confidence=change.confidence,
            since_ms=change.since_ms,
            snapshot=snapshot,
        )

    def _snapshot(
        self, state: _CameraState, frame: np.ndarray, ts_ms: int, tracks: list[Track]
    ) -> str | None:
        """Name the snapshot now; draw and write it on the evidence thread (never the detector's)."""
        zones = state.pipeline.zones

        def write() -> None:
            try:
                self.snapshots.save(state.camera.id, annotate(frame, zones, tracks), ts_ms)
            except OSError as exc:
                self.errors += 1
                log.warning("camera %s: snapshot not written: %s", state.camera.id, exc)

        try:
            self._evidence.put_nowait(write)
        except queue.Full:
            self.snapshots_skipped += 1
            return None
        return self.snapshots.path_for(state.camera.id, ts_ms)

    def _evidence_loop(self) -> None:
        while True:
            job = self._evidence.get()
            try:
                if job is None:
                    return
                job()
            finally:
                self._evidence.task_done()

    def flush_evidence(self, timeout_s: float = 10.0) -> bool:
        """Wait until every queued snapshot is on disk."""
        deadline = time.monotonic() + timeout_s
        while self._evidence.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.01)
        return not self._evidence.unfinished_tasks

    def _health(
        self, state: _CameraState, change: HealthChange, frame: np.ndarray | None, ts_ms: int
    ) -> None:
        snapshot = self._snapshot(state, frame, ts_ms, []) if frame is not None else None
        self._emit(
            HealthObservation(
                camera=state.camera.id,
                room=state.camera.room,
                state=change.state,
                previous=change.previous,
                since_ms=int(change.since_s * 1000),
                detail=change.detail,
                fps=self.fps(state.camera.id),
                snapshot=snapshot,
            )
        )

    def _source_ended(self, state: _CameraState, now_ms: int) -> None:
        """A file camera ended: write the clips still waiting for frames that will never come,
        then report ``ended`` (the agent closes the room's conditions as ``source_ended``)."""
        with state.lock:
            change = state.pipeline.watchdog.end(now_ms / 1000.0)
        if change is None:
            return
        for request in self.clips.due(state.camera.id, 2**62):
            self._write_clip(state, request)
        self._health(state, change, None, now_ms)

    def _on_error(self, camera_id: str, message: str) -> None:
        state = self._cameras[camera_id]
        with state.lock:
            change = state.pipeline.watchdog.unreachable(self.clock.now_ms() / 1000.0, message)
        if change is not None:
            self._health(state, change, None, self.clock.now_ms())

    def _write_clip(self, state: _CameraState, request: ClipRequest) -> None:
        try:
            clip = self.clips.write(request, state.ring)
        except OSError as exc:
            self.errors += 1
            log.warning("camera %s: clip not written: %s", state.camera.id, exc)
            return
        if clip is None:
            return
        self._emit(
            ClipObservation(
                camera=clip.camera,
                room=state.camera.room,
                clip_id=clip.clip_id,
                condition_id=None,
                path=clip.path,
                start_ms=clip.start_ms,
                end_ms=clip.end_ms,
                size_bytes=clip.size_bytes,
                sha256=clip.sha256,
            )
        )

    def _tick_loop(self) -> None:
        while not self._stop.wait(self.settings.tick_s):
            now = self.clock.now_ms()
            for state in self._cameras.values():
                source = state.camera.source
                if state.reader is not None and state.reader.finished.is_set():
                    self._source_ended(state, now)
                    continue
                if isinstance(source, FileSource) and not source.pace:
                    continue  # media time, not wall time: "no frame for N s" does not apply
                with state.lock:
                    change = state.pipeline.health(None, now)
                if change is not None:
                    self._health(state, change, None, now)

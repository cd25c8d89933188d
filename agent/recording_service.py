"""Continuous recording on this box, wired to the rest of the agent: recorders, their events, and
the hub's segment requests.

The recorders (agent/recording.py) report ``recording.state`` (on from the first segment, off at
shutdown) and ``recording.gap``; the hub's retained fetch request (protocol/fetch.py) names ranges
it wants, answered by ``SegmentFetch`` every couple of seconds and kept from retention meanwhile.
The agent's runtime hands in how to emit events and queue files; this module owns the rest.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np

from agent.config import AgentConfig
from agent.emitter import Draft
from agent.recording import Recorders, RecorderSettings
from agent.segment_clips import SegmentClips
from agent.segment_fetch import SegmentFetch
from detectors.config import Camera
from detectors.observations import ClipObservation
from protocol.clock import Clock
from protocol.data import RecordingGap, RecordingSegments, RecordingState
from protocol.errors import ProtocolError
from protocol.fetch import Range, decode_fetch
from protocol.signing import Keyring

log = logging.getLogger(__name__)
POLL_S = 2.0


def recordings_dir(config: AgentConfig, storage: Path) -> Path:
    """Where the segments are: ``recording.dir``, else ``recordings/`` in the storage folder."""
    return Path(config.recording.dir) if config.recording.dir else storage / "recordings"


class RecordingService:
    def __init__(
        self,
        config: AgentConfig,
        storage: Path,
        *,
        clock: Clock,
        emit: Callable[[list[Draft]], None],
        send: Callable[[str], None] | None,
        registry_keys: Keyring | None,
        frames: Callable[[str], np.ndarray | None] | None = None,
        on_clip: Callable[[ClipObservation], None] = lambda clip: None,
    ) -> None:
        """``frames(camera)``: the vision pipeline's latest frame of a camera ffmpeg cannot open
        itself (a plugin source such as the demo's drawn scene), encoded at ``encode_fps``."""
        rec = config.recording
        self.config, self.clock, self.emit = config, clock, emit
        self.registry_keys = registry_keys
        self.root = recordings_dir(config, storage)
        self.counters = {"fetch_rejected": 0}
        settings = RecorderSettings(
            segment_s=rec.segment_s, stall_s=rec.stall_s, min_free_bytes=int(rec.min_free_gb * 1024**3),
            encode_fps=rec.encode_fps,
        )  # fmt: skip
        self.fetch = SegmentFetch(
            self.root, {c.id: c.room for c in config.cameras}, segment_s=rec.segment_s, clock=clock,
            answer=self._answer, send=send or self._cannot_send,
        )  # fmt: skip
        self.clips = SegmentClips(self.root, storage, segment_s=rec.segment_s, clock=clock, done=on_clip)
        self.recorders = Recorders(
            config.cameras, self.root, settings, keep_days=rec.keep_days,
            budget_bytes=int(rec.budget_gb * 1024**3), clock=clock, on_gap=self._gap, on_state=self._state,
            protected=lambda: [*self.fetch.protected(), *self.clips.protected()], frames=frames,
        )  # fmt: skip
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, name="segment-fetch", daemon=True)

    def start(self) -> RecordingService:
        self.recorders.start()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self.recorders.stop()
        if self._thread.is_alive():
            self._thread.join(10)

    def on_fetch(self, payload: bytes) -> None:
        """The hub's retained request (empty payload: nothing wanted); needs the registry key."""
        if self.registry_keys is None:
            if payload:
                self.counters["fetch_rejected"] += 1
                log.warning("segment request ignored: no registry_key configured to check it")
            return
        if not payload:
            return
        try:
            request = decode_fetch(payload, self.registry_keys, center=self.config.center,
                                   agent=self.config.agent)  # fmt: skip
        except ProtocolError as exc:
            self.counters["fetch_rejected"] += 1
            log.warning("segment request rejected: %s", exc)
            return
        self.fetch.request(request)

    def records(self, camera: str) -> bool:
        """Whether ``camera``'s recorder runs (its clips are cut from the recording)."""
        return any(r.camera.id == camera and r.running for r in self.recorders.recorders)

    def _poll(self) -> None:
        while not self._stop.wait(POLL_S):
            try:
                self.fetch.poll()
                self.clips.poll()
            except Exception:  # a bad disk must not end the answering
                log.exception("answering segment requests or cutting clips failed; retrying")

    def _subject(self, camera: str, room: str | None) -> dict[str, str]:
        return {"camera": camera, "room": room} if room else {"camera": camera}

    def _gap(self, camera: Camera, gap: RecordingGap) -> None:
        self.emit([Draft("recording.gap", camera.id, self._subject(camera.id, camera.room), gap, gap.end)])

    def _state(self, camera: Camera, state: str, since: int) -> None:
        data = RecordingState(
            state="recording" if state == "recording" else "stopped", since=since,
            segment_s=self.config.recording.segment_s,
        )  # fmt: skip
        self.emit([Draft("recording.state", camera.id, self._subject(camera.id, camera.room), data, since)])

    def _answer(self, wanted: Range, room: str | None, data: RecordingSegments) -> None:
        subject = self._subject(wanted.camera, room)
        self.emit([Draft("recording.segments", self.config.agent, subject, data, self.clock.now_ms())])

    def _cannot_send(self, path: str) -> None:
        log.warning("segment %s not sent: storage.upload_evidence is off on this agent", path)

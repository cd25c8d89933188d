"""Each camera's latest picture to the hub: every ten seconds, and ``WATCH_FPS`` times a second for
the cameras the hub asks to watch (an operator has one enlarged on the patrol wall).

Pictures are signed evidence-file messages (protocol/files.py ``encode_snapshot``), retained, QoS 0,
latest only — never through the outbox: a picture missed is replaced by the next. A watch lasts until
the time in the hub's request, on this box's clock: the agent stops on its own when nobody renews it
(the page closed, the hub gone). Its own thread, so a slow encode never delays conditions or stats.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

import cv2
import numpy as np

from foundation.mqtt_link import LinkError
from protocol.clock import Clock
from protocol.files import encode_snapshot
from protocol.watch import WATCH_FPS, WATCH_MAX_S, WatchRequest

log = logging.getLogger(__name__)
EVERY_S = 10.0


class SnapshotSender:
    def __init__(
        self,
        *,
        center: str,
        agent: str,
        cameras: Sequence[str],
        key: bytes,
        clock: Clock,
        frame: Callable[[str], np.ndarray | None],
        publish: Callable[[str, bytes], None],
        topic: Callable[[str], str],
        connected: Callable[[], bool],
    ) -> None:
        self.center, self.agent, self.cameras, self.key, self.clock = center, agent, list(cameras), key, clock
        self.frame, self.publish, self.topic, self.connected = frame, publish, topic, connected
        self.sent = 0
        self._until: dict[str, float] = {}
        self._request_ts = 0
        self._last: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="agent-snapshots", daemon=True)

    def start(self) -> SnapshotSender:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def watch(self, request: WatchRequest) -> None:
        """The hub's newest request replaces the previous one (cameras not on this box ignored).
        Each watch is taken as a duration from the request's own time (at most a minute) and counted
        on this box's monotonic clock: a box whose clock is behind or ahead of the hub's watches as
        long as the hub meant, and an older request (a retained one replayed) changes nothing."""
        if request.ts <= self._request_ts:
            return
        self._request_ts = request.ts
        mono = time.monotonic()
        self._until = {
            c: mono + min(WATCH_MAX_S, max(0, until - request.ts) / 1000)
            for c, until in request.cameras.items()
            if c in self.cameras
        }

    def watched(self) -> list[str]:
        mono = time.monotonic()
        return sorted(c for c, until in dict(self._until).items() if until > mono)

    def _run(self) -> None:
        while not self._stop.wait(1.0 / WATCH_FPS):
            try:
                self.send_due()
            except Exception:
                log.exception("snapshots not sent this round")

    def send_due(self) -> None:
        if not self.connected():
            return
        watched = set(self.watched())
        mono = time.monotonic()
        for camera in self.cameras:
            if camera not in watched and mono - self._last.get(camera, -EVERY_S) < EVERY_S:
                continue
            frame = self.frame(camera)
            if frame is None:
                continue
            ok, jpeg = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 70])
            if not ok:
                continue
            payload = encode_snapshot(
                self.center, self.agent, camera, jpeg.tobytes(), key=self.key, ts=self.clock.now_ms()
            )
            try:
                self.publish(self.topic(camera), payload)
            except LinkError:
                return
            self._last[camera] = mono
            self.sent += 1

"""Delivers stored notifications: one thread per lane, retries with backoff, every attempt kept.

A lane is a channel (``sms``, ``mqtt``) or one webhook, so a slow webhook never holds up an SMS.
Each lane takes its due ``pending`` rows, sends them one by one, and records the outcome: sent;
pending again at ``now + backoff`` (2 s, 4 s, 8 s … capped at 5 min) while attempts remain and
the failure is retryable; failed otherwise. Rows survive a restart, so a notification planned
before a crash is delivered after it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hub.notify.channels import Channel, Delivery
from hub.notify.store import Notification, NotificationStore
from protocol.clock import Clock

log = logging.getLogger(__name__)
BACKOFF_BASE_MS = 2_000
BACKOFF_CAP_MS = 300_000
IDLE_S = 1.0


def backoff_ms(attempts: int) -> int:
    """Wait before attempt ``attempts + 1`` (``attempts`` made so far, ≥ 1)."""
    return int(min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** max(0, attempts - 1)))


@dataclass
class LaneStats:
    sent: int = 0
    failed: int = 0
    retried: int = 0


@dataclass
class Lane:
    channel: str
    recipient: str | None
    sender: Channel
    stats: LaneStats = field(default_factory=LaneStats)

    @property
    def name(self) -> str:
        return self.channel if self.recipient is None else f"{self.channel}:{self.recipient}"


class Dispatcher:
    def __init__(
        self,
        store: NotificationStore,
        lanes: list[Lane],
        clock: Clock,
        alert_doc: Callable[[str], dict[str, Any] | None],
    ) -> None:
        self.store = store
        self.lanes = lanes
        self.clock = clock
        self.alert_doc = alert_doc
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._wakes = {lane.name: threading.Event() for lane in lanes}
        self._unrecorded: dict[int, tuple[int, bool, str, int | None]] = {}
        """Attempts made whose record the store refused (a stall): kept here, written first when it
        takes writes again, and their notifications never sent twice meanwhile."""
        self._unrecorded_lock = threading.Lock()

    def start(self) -> Dispatcher:
        for lane in self.lanes:
            thread = threading.Thread(target=self._run, args=(lane,), name=f"notify-{lane.name}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def wake(self) -> None:
        """New notifications were planned: look now rather than at the next idle check."""
        for event in self._wakes.values():
            event.set()

    def stop(self) -> None:
        self._stop.set()
        self.wake()
        for thread in self._threads:
            thread.join(10)

    def _run(self, lane: Lane) -> None:
        wake = self._wakes[lane.name]
        while not self._stop.is_set():
            try:
                busy = self.deliver_due(lane)
            except Exception:
                log.exception("notification lane %s failed a round; continuing", lane.name)
                busy = False
            if busy:
                continue
            wake.wait(self._idle_s(lane))
            wake.clear()

    def _idle_s(self, lane: Lane) -> float:
        due = self.store.next_due(lane.channel, lane.recipient)
        if due is None:
            return IDLE_S
        return max(0.0, min(IDLE_S, (due - self.clock.now_ms()) / 1000))

    def deliver_due(self, lane: Lane) -> bool:
        """Send what is due on ``lane``; True when something was tried."""
        if not self._record_held():
            return False  # the store still refuses writes: send nothing more until it takes them
        notes = self.store.due(lane.channel, lane.recipient, self.clock.now_ms())
        with self._unrecorded_lock:
            notes = [n for n in notes if n.id not in self._unrecorded]
        for note in notes:
            if self._stop.is_set():
                break
            self._deliver(lane, note)
        return bool(notes)

    def _record_held(self) -> bool:
        """Write the attempts the store refused before; False while it still refuses."""
        with self._unrecorded_lock:
            held = dict(self._unrecorded)
        for note_id, (at_ms, ok, detail, retry) in held.items():
            try:
                self.store.attempted(note_id, at_ms=at_ms, ok=ok, detail=detail, retry_at_ms=retry)
            except Exception as exc:
                log.warning("notification attempts still not recorded (%d held): %s", len(held), exc)
                return False
            with self._unrecorded_lock:
                self._unrecorded.pop(note_id, None)
        return True

    def _deliver(self, lane: Lane, note: Notification) -> None:
        try:
            result = lane.sender.send(note, self.alert_doc(note.alert))
        except Exception as exc:  # a channel must not raise; if one does, it is an attempt that failed
            log.exception("channel %s raised", lane.name)
            result = Delivery(False, f"internal error: {type(exc).__name__}: {exc}")
        now = self.clock.now_ms()
        attempts = note.attempts + 1
        retry = None
        if not result.ok and result.retryable and attempts < lane.sender.max_attempts:
            retry = now + backoff_ms(attempts)
        try:
            state = self.store.attempted(
                note.id, at_ms=now, ok=result.ok, detail=result.detail, retry_at_ms=retry
            )
        except Exception:  # sent (or tried) but not recorded: never send it again meanwhile
            with self._unrecorded_lock:
                self._unrecorded[note.id] = (now, result.ok, result.detail, retry)
            raise
        if state == "sent":
            lane.stats.sent += 1
        elif state == "pending":
            lane.stats.retried += 1
            log.warning(
                "notification %s via %s failed (%s); retry %d", note.id, lane.name, result.detail, attempts
            )
        else:
            lane.stats.failed += 1
            log.error("notification %s via %s failed for good after %d attempt(s): %s",
                      note.id, lane.name, attempts, result.detail)  # fmt: skip

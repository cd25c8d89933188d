"""Moves events from the outbox to the broker, in ``seq`` order, and deletes them on PUBACK.

A message id maps to its ``seq`` until the broker acknowledges it. After a disconnect the map is
dropped and everything still in the outbox is published again from the lowest ``seq`` (the hub
dedupes on agent and ``seq``), so an outage or a restart loses nothing and keeps the order.

With ``wait_for_hub`` it publishes only while the hub's retained status on this broker says
``online``: a broker restarted without persistence has no session for the hub until the hub
reconnects, and would acknowledge, then drop, whatever came first (found by the demo's kill
test). Until the hub is back the events wait in the outbox.
"""

from __future__ import annotations

import logging
import threading

from agent.mqtt_link import LinkError, MqttLink
from agent.outbox import Outbox

log = logging.getLogger(__name__)

EARLY_HORIZON = 2000


class Publisher:
    def __init__(
        self,
        outbox: Outbox,
        link: MqttLink,
        *,
        window: int = 1000,
        batch: int = 500,
        wait_for_hub: bool = False,
    ) -> None:
        self.outbox = outbox
        self.link = link
        self.window = window
        self.batch = batch
        self.published = 0
        self.acked = 0
        self._inflight: dict[int, int] = {}
        # PUBACKs that arrived before this thread recorded mid -> seq (loopback is that fast);
        # kept with the publish count when seen, and forgotten after EARLY_HORIZON publishes so a
        # stray ack of a resent old message can never match a reused message id much later.
        self._early: dict[int, int] = {}
        self._last_sent = 0
        self._to_delete: list[int] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self.wait_for_hub = wait_for_hub
        self.hub_online = threading.Event()
        """Set while the hub's retained status says ``online`` (always, without ``wait_for_hub``)."""
        if not wait_for_hub:
            self.hub_online.set()
        self._thread = threading.Thread(target=self._run, name="publisher", daemon=True)
        link.on_ack = self._on_ack
        link.on_connected = self._on_connected

    def start(self) -> Publisher:
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout_s)
        self._delete_acked()

    def notify(self) -> None:
        """New events are in the outbox."""
        self._wake.set()

    def inflight(self) -> int:
        with self._lock:
            return len(self._inflight)

    def set_hub_online(self, online: bool) -> None:
        """The hub's status as the broker has it now (its retained message, or its will)."""
        if not self.wait_for_hub:
            return
        if online:
            self.hub_online.set()
            self._wake.set()
        else:
            self.hub_online.clear()

    def _on_connected(self) -> None:
        if self.wait_for_hub:  # a new connection, maybe a new broker: wait to hear from the hub there
            self.hub_online.clear()
        with self._lock:
            self._inflight.clear()
            self._early.clear()
            self._last_sent = 0  # replay everything not yet acknowledged, in order
        self._wake.set()

    def _on_ack(self, mid: int) -> None:
        with self._lock:
            seq = self._inflight.pop(mid, None)
            if seq is None:
                self._early[mid] = self.published
        if seq is not None:
            with self._lock:
                self._to_delete.append(seq)
            self._wake.set()  # deletes are batched on the publisher thread: one commit per batch

    def _delete_acked(self) -> None:
        with self._lock:
            done, self._to_delete = self._to_delete, []
        if done:
            self.outbox.ack(done)
            self.acked += len(done)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(0.5)
            self._wake.clear()
            self._delete_acked()
            while self.link.connected.is_set() and self.hub_online.is_set() and not self._stop.is_set():
                self._delete_acked()
                with self._lock:
                    room = self.window - len(self._inflight)
                    after = self._last_sent
                if room <= 0:
                    break
                rows = self.outbox.pending(after, min(room, self.batch))
                if not rows:
                    break
                try:
                    for row in rows:
                        # never hold our lock while in paho: its network thread calls _on_ack
                        mid = self.link.publish(row.topic, row.payload, qos=1)
                        with self._lock:
                            self._last_sent = row.seq
                            seen_at = self._early.pop(mid, None)
                            acked_already = seen_at is not None and self.published - seen_at < EARLY_HORIZON
                            if not acked_already:
                                self._inflight[mid] = row.seq
                            if len(self._early) > 256:
                                horizon = self.published - EARLY_HORIZON
                                self._early = {m: at for m, at in self._early.items() if at >= horizon}
                        if acked_already:
                            with self._lock:
                                self._to_delete.append(row.seq)
                        self.published += 1
                except LinkError as exc:
                    log.info("publishing paused: %s", exc)
                    break

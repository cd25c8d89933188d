"""Moves events from the outbox to the broker in ``seq`` order; forgets them on the hub's receipt.

With ``receipts`` (the default) an event leaves the outbox only when the hub's retained receipt
(protocol/receipts.py) says it is stored: a PUBACK only frees a place in the in-flight window,
because a broker that crashes — or the hub's embedded broker dying with the hub — forgets what it
acknowledged. Everything not yet receipted is published again, from the lowest ``seq``, after any
reconnect, whenever the hub comes back online, and when no receipt has moved for
``receipt_timeout_s`` while events wait (doubling up to 15 minutes while the hub stays silent) —
the hub dedupes on agent, epoch and ``seq``. Without ``receipts`` (a hub older than receipts)
a PUBACK deletes, as before.

A message id maps to its ``seq`` until the broker acknowledges it. With ``wait_for_hub`` it
publishes only while the hub's retained status on this broker says ``online``: a broker restarted
without persistence has no session for the hub until the hub reconnects.
"""

from __future__ import annotations

import logging
import threading
import time

from agent.outbox import Outbox
from foundation.mqtt_link import LinkError, MqttLink

log = logging.getLogger(__name__)

EARLY_HORIZON = 2000
MAX_RECEIPT_WAIT_S = 900.0


class Publisher:
    def __init__(
        self,
        outbox: Outbox,
        link: MqttLink,
        *,
        window: int = 1000,
        batch: int = 500,
        wait_for_hub: bool = False,
        receipts: bool = False,
        receipt_timeout_s: float = 60.0,
        max_unconfirmed: int = 1000,
    ) -> None:
        self.outbox = outbox
        self.link = link
        self.window = window
        self.batch = batch
        self.receipts = receipts
        self.receipt_timeout_s = receipt_timeout_s
        self.max_unconfirmed = max_unconfirmed
        """With receipts: publish no seq beyond the last receipt + this. A burst sent again after a
        hole must fit what the broker will queue for the hub, or it opens new holes."""
        self.published = 0
        self.acked = 0
        """PUBACKs received."""
        self.receipted = 0
        """Highest seq the hub's receipts confirmed (0 before the first)."""
        self.forgotten = 0
        """Events deleted from the outbox (on receipt; on PUBACK without receipts)."""
        self.replays = 0
        """Times everything unconfirmed was published again (reconnect, hub back, receipt timeout)."""
        self._inflight: dict[int, int] = {}
        # PUBACKs that arrived before this thread recorded mid -> seq (loopback is that fast);
        # kept with the publish count when seen, and forgotten after EARLY_HORIZON publishes so a
        # stray ack of a resent old message can never match a reused message id much later.
        self._early: dict[int, int] = {}
        self._last_sent = 0
        self._to_delete: list[int] = []
        self._receipt_to_apply = 0
        self._receipt_moved = time.monotonic()
        self._receipt_wait = receipt_timeout_s
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
        self._forget_confirmed()

    def notify(self) -> None:
        """New events are in the outbox."""
        self._wake.set()

    def inflight(self) -> int:
        with self._lock:
            return len(self._inflight)

    def set_hub_online(self, online: bool) -> None:
        """The hub's status as the broker has it now (its retained message, or its will)."""
        came_back = online and not self.hub_online.is_set()
        if online:
            self.hub_online.set()
        elif self.wait_for_hub:
            self.hub_online.clear()
        if came_back and self.receipts:
            self._replay("the hub is back online")
        self._wake.set()

    def on_receipt(self, seq: int) -> None:
        """The hub has stored every event of this outbox up to ``seq`` (a verified receipt)."""
        with self._lock:
            if seq > self._receipt_to_apply:
                self._receipt_to_apply = seq
            if seq > self.receipted:
                self.receipted = seq
                self._receipt_moved = time.monotonic()
                self._receipt_wait = self.receipt_timeout_s
        self._wake.set()

    def restart_numbering(self) -> None:
        """The outbox took a new epoch and numbers from 1 again: forget the old receipts."""
        with self._lock:
            self.receipted = 0
            self._receipt_to_apply = 0
        self._replay("new outbox epoch")
        self._wake.set()

    def _replay(self, why: str) -> None:
        with self._lock:
            self._inflight.clear()
            self._early.clear()
            self._last_sent = 0  # everything not yet confirmed, in order
            self._receipt_moved = time.monotonic()
        self.replays += 1
        log.info("publishing every unconfirmed event again: %s", why)

    def _on_connected(self) -> None:
        if self.wait_for_hub:  # a new connection, maybe a new broker: wait to hear from the hub there
            self.hub_online.clear()
        self._replay("connected")
        self._wake.set()

    def _on_ack(self, mid: int) -> None:
        with self._lock:
            self.acked += 1
            seq = self._inflight.pop(mid, None)
            if seq is None:
                self._early[mid] = self.published
            elif not self.receipts:
                self._to_delete.append(seq)
        self._wake.set()  # deletes are batched on the publisher thread: one commit per batch

    def _forget_confirmed(self) -> None:
        with self._lock:
            done, self._to_delete = self._to_delete, []
            through, self._receipt_to_apply = self._receipt_to_apply, 0
        if done:
            self.forgotten += self.outbox.ack(done)
        if through:
            self.forgotten += self.outbox.ack_through(through)

    def _check_receipt_timeout(self) -> None:
        """Unconfirmed events and a silent hub: publish them again (the broker may have lost them)."""
        if not self.receipts or not self.hub_online.is_set() or not self.link.connected.is_set():
            return
        with self._lock:
            waiting = self._last_sent > self.receipted
            silent_s = time.monotonic() - self._receipt_moved
            wait = self._receipt_wait
        if waiting and silent_s >= wait:
            with self._lock:
                self._receipt_wait = min(MAX_RECEIPT_WAIT_S, wait * 2)
            self._replay(f"no receipt for {silent_s:.0f} s")

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(0.5)
            self._wake.clear()
            self._forget_confirmed()
            self._check_receipt_timeout()
            while self.link.connected.is_set() and self.hub_online.is_set() and not self._stop.is_set():
                self._forget_confirmed()
                with self._lock:
                    room = self.window - len(self._inflight)
                    after = max(self._last_sent, self.receipted if self.receipts else 0)
                if room <= 0:
                    break
                rows = self.outbox.pending(after, min(room, self.batch))
                if self.receipts:
                    limit = self.receipted + self.max_unconfirmed
                    rows = [row for row in rows if row.seq <= limit]
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
                            elif not self.receipts:
                                self._to_delete.append(row.seq)
                            if len(self._early) > 256:
                                horizon = self.published - EARLY_HORIZON
                                self._early = {m: at for m, at in self._early.items() if at >= horizon}
                        self.published += 1
                except LinkError as exc:
                    log.info("publishing paused: %s", exc)
                    break

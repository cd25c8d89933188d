"""What keeps events safe between the agent's sensing and the hub: storing, holding, confirming.

``OutboxKeeper`` stores events in the outbox through the emitter; while the outbox cannot take
them (a full disk) it holds them in memory, in order, and stores them first once it can (beyond
``UNSTORED_MAX`` the oldest are dropped, counted and logged: a real loss). It reads the hub's
receipts (protocol/receipts.py): a verified receipt of this outbox's epoch lets the publisher
forget what it confirms; one ahead of this outbox's own numbering means the outbox went back in
time (a power cut lost its last commits, a restored snapshot), and it takes a new epoch.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import deque

from agent.emitter import Draft, Emitter
from agent.outbox import Outbox
from agent.publisher import Publisher
from protocol.canonical import canonical_bytes
from protocol.errors import ProtocolError
from protocol.receipts import decode_receipt
from protocol.signing import Keyring, signed

log = logging.getLogger("agent.runtime")
UNSTORED_MAX = 100_000
"""Drafts held in memory while the outbox cannot be written (a full disk), before the oldest go."""


class OutboxKeeper:
    def __init__(
        self,
        outbox: Outbox,
        emitter: Emitter,
        publisher: Publisher,
        *,
        key: bytes,
        center: str,
        agent: str,
        counters: dict[str, int],
    ) -> None:
        self.outbox = outbox
        self.emitter = emitter
        self.publisher = publisher
        self.key = key
        self.center = center
        self.agent = agent
        self.keyring = Keyring({agent: key})
        self.counters = counters
        for name in (
            "emit_errors",
            "emit_dropped",
            "receipts_rejected",
            "receipts_other_epoch",
            "outbox_rebased",
        ):
            counters.setdefault(name, 0)
        self._unstored: deque[Draft] = deque()
        self._unstored_states: dict[str, str] = {}
        """device states waiting with the held events (stored with the last of them)"""
        self._lock = threading.Lock()

    # storing ---------------------------------------------------------------------------------
    def emit(self, drafts: list[Draft], states: dict[str, str] | None = None) -> None:
        """Store events, after any held ones, with the device ``states`` they leave behind (in
        the same commit); hold both here while the outbox refuses writes."""
        with self._lock:
            self._unstored.extend(drafts)
            self._unstored_states.update(states or {})
            self._flush()

    def flush(self) -> None:
        """Store what is held (the agent's timer calls this every second)."""
        if self._unstored or self._unstored_states:
            with self._lock:
                self._flush()

    def unstored(self) -> int:
        """Events held in memory because the outbox could not take them."""
        return len(self._unstored)

    def _flush(self) -> None:
        while self._unstored or self._unstored_states:
            batch = list(self._unstored)[:500]
            last = len(batch) == len(self._unstored)
            try:
                self.emitter.emit_many(batch, self._unstored_states if last else None)
            except Exception as exc:
                self.counters["emit_errors"] += 1
                if self.counters["emit_errors"] % 100 == 1:
                    log.error("events could not be stored, %d held in memory: %s", len(self._unstored), exc)
                overflow = len(self._unstored) - UNSTORED_MAX
                if overflow > 0:
                    for _ in range(overflow):
                        self._unstored.popleft()
                    self.counters["emit_dropped"] += overflow
                    log.error("outbox unusable: %d events dropped (%d held)", overflow, len(self._unstored))
                return
            for _ in batch:
                self._unstored.popleft()
            if last:
                self._unstored_states = {}

    # confirming ------------------------------------------------------------------------------
    def on_receipt(self, payload: bytes) -> None:
        try:
            receipt = decode_receipt(payload, self.keyring, center=self.center, agent=self.agent)
        except ProtocolError as exc:
            self.counters["receipts_rejected"] += 1
            log.warning("receipt rejected: %s", exc)
            return
        if receipt.epoch != self.outbox.epoch:  # a predecessor's (the outbox was reset): not ours
            self.counters["receipts_other_epoch"] += 1
            return
        if receipt.seq >= self.outbox.next_seq():
            self._went_back(receipt.seq)
            return
        self.publisher.on_receipt(receipt.seq)

    def _went_back(self, confirmed: int) -> None:
        """The hub has stored seqs this outbox has not numbered yet. Its next events would be
        dropped as replays, so it takes a new epoch and numbers what it holds again from 1; the
        hub records the reset (INGEST-RESET). What it held may reach the hub twice (under both
        epochs): a duplicate, never a loss."""
        self.counters["outbox_rebased"] += 1
        log.error(
            "outbox is behind the hub (hub stored seq %d of epoch %s, next here %d): new epoch",
            confirmed, self.outbox.epoch, self.outbox.next_seq(),
        )  # fmt: skip
        key = self.key

        def resign(payload: bytes, seq: int, epoch: str) -> bytes:
            doc = json.loads(payload)
            doc.update(seq=seq, epoch=epoch)
            return canonical_bytes(signed(doc, key))

        with self._lock:  # no event is numbered meanwhile
            self.outbox.rebase(resign)
        self.publisher.restart_numbering()

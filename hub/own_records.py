"""The hub's own log entries as the ingest appends them: numbered, signed, ready for the store.

People's records (``hub.records``) and the ingest's findings — a seq gap (``ingest.gap``), a new
outbox (``ingest.reset``), a stall (``ingest.stall``) — are events of agent ``hub`` in the same
chain. ``HubRecords`` owns their ``seq`` counter: it numbers each record as it is built and is
set back when a batch is not committed, so the hub's numbering stays gapless too.
"""

from __future__ import annotations

import logging
from typing import Any

from hub.admission import Reset
from hub.records import HUB_AGENT, build_record, record_bytes
from hub.store import Incoming, SeqGap
from protocol.clock import Clock

log = logging.getLogger("hub.service")


class HubRecords:
    def __init__(self, *, center: str, key: bytes, clock: Clock, next_seq: int) -> None:
        self.center = center
        self.key = key
        self.clock = clock
        self.next_seq = next_seq

    def build(
        self, kind: str, subject: dict[str, str], data: dict[str, Any], by: str, ts: int | None
    ) -> Incoming:
        """One record under the next seq (``ts`` None: now)."""
        now = self.clock.now_ms()
        when = ts if ts is not None else now
        doc = build_record(
            kind=kind, subject=subject, data=data, seq=self.next_seq, ts=when, center=self.center, by=by,
            key=self.key, now_ms=now,
        )  # fmt: skip
        self.next_seq += 1
        found = doc["subject"]
        return Incoming(
            HUB_AGENT, doc["seq"], doc["id"], kind, when, now, record_bytes(doc), found.get("person"),
            found.get("band"),
        )  # fmt: skip

    def gap(self, gap: SeqGap) -> Incoming:
        data: dict[str, Any] = {"agent": gap.agent, "first": gap.first, "last": gap.last}
        if gap.epoch:
            data["epoch"] = gap.epoch
        return self.build("ingest.gap", {}, data, HUB_AGENT, gap.detected_ms)

    def reset(self, reset: Reset) -> Incoming:
        log.error(
            "agent %s started a new outbox (epoch %s at seq %d; the previous, %s, reached seq %d)",
            reset.agent, reset.epoch or "-", reset.first_seq, reset.previous_epoch or "-",
            reset.previous_highest,
        )  # fmt: skip
        data = {
            "agent": reset.agent,
            "epoch": reset.epoch,
            "first_seq": reset.first_seq,
            "previous_epoch": reset.previous_epoch,
            "previous_highest": reset.previous_highest,
        }
        return self.build("ingest.reset", {}, data, HUB_AGENT, reset.detected_ms)

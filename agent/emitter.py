"""Turns what the agent observed into signed events in the outbox.

The ``seq`` is assigned by the outbox inside its transaction, so the event is built and signed
there: the signature covers the number it will be stored and sent under.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from agent.outbox import Outbox, Record
from protocol.clock import Clock
from protocol.codec import encode
from protocol.data import Data
from protocol.envelope import Event, Subject, new_event
from protocol.kinds import KINDS
from protocol.topics import TopicLayout


@dataclass(frozen=True)
class Draft:
    """An event without its envelope numbers: what happened, about what, when."""

    kind: str
    source: str
    subject: dict[str, str] | Subject
    data: Data | dict[str, Any]
    ts: int


class Emitter:
    def __init__(
        self,
        outbox: Outbox,
        *,
        key: bytes,
        center: str,
        agent: str,
        layout: TopicLayout,
        clock: Clock,
        on_stored: Callable[[], None] | None = None,
    ) -> None:
        self.outbox = outbox
        self.key = key
        self.center = center
        self.agent = agent
        self.layout = layout
        self.clock = clock
        self.on_stored = on_stored
        self.emitted = 0

    def _builder(self, draft: Draft, sink: list[Event]) -> Callable[[int], Record]:
        def build(seq: int) -> Record:
            event = new_event(
                key=self.key, seq=seq, ts=draft.ts, center=self.center, agent=self.agent, source=draft.source,
                kind=draft.kind, subject=draft.subject, data=draft.data, now_ms=self.clock.now_ms(),
                epoch=self.outbox.epoch,
            )  # fmt: skip
            sink.append(event)
            return Record(self.layout.topic_for(event), encode(event), KINDS[draft.kind].priority, draft.ts)

        return build

    def emit(self, draft: Draft) -> Event:
        return self.emit_many([draft])[0]

    def emit_many(self, drafts: Sequence[Draft], states: Mapping[str, str] | None = None) -> list[Event]:
        """Store several events in one commit (with the device ``states`` they leave behind);
        returns them signed and numbered."""
        events: list[Event] = []
        self.outbox.append_many([self._builder(draft, events) for draft in drafts], states)
        self.emitted += len(events)
        if self.on_stored is not None:
            self.on_stored()
        return events

"""Live change notices for the console: the ingest thread says what changed, browsers hear it.

``LiveFeed.publish`` is called from the hub's ingest thread after each saved round; every open
server-sent-events stream has an asyncio queue on the HTTP server's loop, filled through
``call_soon_threadsafe``. A notice names only what changed (alert ids, projection kinds), never
its content: the page fetches what it needs through the API under the viewer's own role.
A slow browser's queue is bounded; when it overflows the browser gets one ``resync`` instead.
"""

from __future__ import annotations

import asyncio
import json
import threading
from dataclasses import dataclass, field
from typing import Any

QUEUE_MAX = 100


@dataclass
class _Listener:
    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue[str]


@dataclass
class LiveFeed:
    _listeners: list[_Listener] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    published: int = 0

    def subscribe(self) -> _Listener:
        listener = _Listener(asyncio.get_running_loop(), asyncio.Queue(QUEUE_MAX))
        with self._lock:
            self._listeners.append(listener)
        return listener

    def unsubscribe(self, listener: _Listener) -> None:
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    def publish(self, notice: dict[str, Any]) -> None:
        """Any thread: hand ``notice`` to every open stream (dropped once a stream is full)."""
        text = json.dumps(notice, ensure_ascii=False, separators=(",", ":"))
        with self._lock:
            listeners = list(self._listeners)
        self.published += 1
        for listener in listeners:
            try:
                listener.loop.call_soon_threadsafe(_offer, listener.queue, text)
            except RuntimeError:  # its loop is closed: the stream is gone
                self.unsubscribe(listener)


def _offer(queue: asyncio.Queue[str], text: str) -> None:
    if queue.full():
        while not queue.empty():
            queue.get_nowait()
        queue.put_nowait('{"resync":true}')
        return
    queue.put_nowait(text)

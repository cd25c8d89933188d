"""Which cameras someone is watching now, per agent: what the hub's watch requests say.

The console renews a watch every few seconds while a camera is enlarged; a watch not renewed for
``WATCH_S`` ends. Pure bookkeeping (times in ms, no I/O): the service publishes an agent's request
when its set of cameras changes or a watch needs extending, and again when watches end.
"""

from __future__ import annotations

import threading

WATCH_S = 10
RENEW_MS = 4_000
MAX_PER_AGENT = 4
"""An edge box encodes and sends each watched camera twice a second: four at most, the oldest
watch giving way to a new one."""
"""A published watch is extended once it has less than this left (the console renews every 3 s)."""


class Watches:
    def __init__(self) -> None:
        self._until: dict[str, dict[str, int]] = {}
        self._lock = threading.Lock()

    def add(self, agent: str, camera: str, now_ms: int) -> dict[str, int] | None:
        """Watch ``camera`` of ``agent``; the agent's new request when one must be published."""
        with self._lock:
            cameras = self._until.setdefault(agent, {})
            current = cameras.get(camera, 0)
            if current - now_ms > RENEW_MS:
                return None  # the agent was told recently enough
            cameras[camera] = now_ms + WATCH_S * 1000
            while len(cameras) > MAX_PER_AGENT:
                del cameras[min(cameras, key=lambda c: cameras[c])]
            return dict(cameras)

    def expire(self, now_ms: int) -> dict[str, dict[str, int]]:
        """Agents whose watches ended, with what is left of each one's request."""
        changed = {}
        with self._lock:
            for agent, cameras in self._until.items():
                left = {c: u for c, u in cameras.items() if u > now_ms}
                if len(left) != len(cameras):
                    self._until[agent] = left
                    changed[agent] = dict(left)
        return changed

    def watched(self) -> dict[str, list[str]]:
        with self._lock:
            return {agent: sorted(cameras) for agent, cameras in self._until.items() if cameras}

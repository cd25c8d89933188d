"""Runs the agent's configured devices: a port reader per device feeding its driver (or, for an
*active* driver that talks to several ports itself, the driver's own threads), a timer for
silence, and device health (``device.health``) when a port opens or is lost."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from devices.config import Device
from devices.events import DeviceEvent
from devices.registry import driver
from devices.transport import PortReader
from protocol.clock import Clock
from protocol.data import DeviceHealth

log = logging.getLogger(__name__)

OnEvents = Callable[[list[DeviceEvent]], None]


@dataclass(frozen=True)
class DeviceStateStore:
    """Where drivers that keep state across restarts (``keeps_state``) keep it: ``load(device)``
    the last stored text; ``save_with(events, {device: text})`` stores events and states in one
    commit (the agent's outbox), so neither can survive a kill without the other."""

    load: Callable[[str], str | None]
    save_with: Callable[[list[DeviceEvent], dict[str, str]], None]


class DeviceService:
    def __init__(
        self,
        devices: Sequence[Device],
        on_events: OnEvents,
        *,
        clock: Clock,
        tick_s: float = 1.0,
        store: DeviceStateStore | None = None,
    ) -> None:
        """``store``: where drivers that keep state across restarts put it (None: their own files)."""
        self.clock = clock
        self.on_events = on_events
        self.tick_s = tick_s
        self.states: dict[str, str] = {}
        self._drivers: dict[str, Any] = {}
        self._readers: list[PortReader] = []
        self._active: list[tuple[Any, Callable[[bool, str], None]]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._timer = threading.Thread(target=self._tick_loop, name="devices-timer", daemon=True)
        for device in devices:
            cls = driver(device.driver)
            options = cls.Options.model_validate(device.options)
            if getattr(cls, "keeps_state", False):
                instance = cls(device.id, options, store=store)
            else:
                instance = cls(device.id, options)
            self._drivers[device.id] = instance
            if getattr(cls, "active", False):
                # drives its own ports (a cabinet: fingerprint, board, scanner)
                self._active.append((instance, self._state_reporter(device)))
                continue
            if device.port is None:
                log.warning("device %s has no port: nothing to read", device.id)
                continue
            self._readers.append(
                PortReader(
                    device.port,
                    self._feeder(device.id, instance),
                    self._state_reporter(device),
                    baudrate=device.baudrate,
                    name=device.id,
                )
            )

    def _emit(self, events: list[DeviceEvent]) -> None:
        if events:
            try:
                self.on_events(events)
            except Exception:
                log.exception("device events could not be handled")

    def _feeder(self, device_id: str, instance: Any) -> Callable[[bytes], None]:
        def feed(data: bytes) -> None:
            with self._lock:
                events = instance.feed(data, self.clock.now_ms())
            self._emit(events)

        return feed

    def _state_reporter(self, device: Device) -> Callable[[bool, str], None]:
        def report(online: bool, detail: str) -> None:
            state = "online" if online else "offline"
            self.states[device.id] = state
            (log.info if online else log.warning)("device %s %s: %s", device.id, state, detail)
            data = DeviceHealth.model_validate(
                {"state": state, "driver": device.driver, "detail": detail[:1000]}
            )
            self._emit(
                [DeviceEvent("device.health", device.id, {"device": device.id}, data, self.clock.now_ms())]
            )

        return report

    def errors(self) -> dict[str, dict[str, int]]:
        """Each device's counted input errors (bad frames, bad JSON, board timeouts…) for /metrics."""
        out = {}
        for device_id, instance in self._drivers.items():
            with self._lock:
                out[device_id] = dict(instance.errors())
        return out

    def start(self) -> DeviceService:
        for reader in self._readers:
            reader.start()
        for instance, report in self._active:
            instance.start(self._emit, report, self.clock)
        self._timer.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for reader in self._readers:
            reader.stop()
        for instance, _report in self._active:
            instance.stop()
        self._timer.join(3)

    def _tick_loop(self) -> None:
        while not self._stop.wait(self.tick_s):
            now = self.clock.now_ms()
            for device_id, instance in self._drivers.items():
                try:
                    with self._lock:
                        events = instance.tick(now)
                except Exception:  # one driver's bug must not stop the others' timers
                    log.exception("device %s: tick failed", device_id)
                    continue
                self._emit(events)

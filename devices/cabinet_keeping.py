"""Where a cabinet's state (``CabinetState``) survives restarts.

In the agent it lives in the outbox database, stored in the same commit as the events that
changed it (``DeviceStateStore``): a SIGKILL keeps both or neither, so the first board reading
after a restart never reports again what was already published, nor misses what was not. Outside
the agent (a bare ``DeviceService``, a test) it is a JSON file written after the events — there a
kill between the two can repeat a change as ``reconciled``. An old ``inventory_file`` /
``state_file`` is imported into the store on the first start that finds the store empty.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from pathlib import Path

from devices.cabinet_state import CabinetState, StateError, parse_state
from devices.events import DeviceEvent
from devices.service import DeviceStateStore

log = logging.getLogger(__name__)
Emit = Callable[[list[DeviceEvent]], None]


def _parse(text: str, where: str) -> CabinetState:
    """The state in ``text``; an unreadable one is logged whole (nothing is lost unseen) and the
    cabinet starts from the board's reading."""
    try:
        state, notes = parse_state(json.loads(text))
    except (ValueError, StateError) as exc:
        log.error(
            "cabinet state in %s unreadable (%s): starting from the board's reading; it was: %s",
            where, exc, text[:4000],
        )  # fmt: skip
        return CabinetState()
    for note in notes:
        log.warning("cabinet state in %s: %s", where, note)
    return state


def read_file(path: str | None) -> CabinetState | None:
    if not path or not os.path.exists(path):
        return None
    try:
        return _parse(Path(path).read_text("utf-8"), path)
    except OSError as exc:
        log.error("cabinet state %s unreadable (%s): starting from the board's reading", path, exc)
        return CabinetState()


def write_file(path: str, text: str) -> None:
    """Atomically, and durably: a power cut leaves the old file or the new one."""
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def as_text(state: CabinetState) -> str:
    return json.dumps(state.to_json(), ensure_ascii=False, sort_keys=True)


class StateKeeping:
    def __init__(self, device: str, store: DeviceStateStore | None, state_file: str | None) -> None:
        self.device = device
        self.store = store
        self.state_file = state_file
        self.errors = 0
        self._saved = ""

    def load(self) -> CabinetState:
        if self.store is not None:
            text = self.store.load(self.device)
            if text is not None:
                self._saved = text
                return _parse(text, "the outbox")
            imported = read_file(self.state_file)
            if imported is not None:
                log.info("cabinet %s: state imported from %s", self.device, self.state_file)
            return imported or CabinetState()
        state = read_file(self.state_file) or CabinetState()
        self._saved = as_text(state)
        return state

    def commit(self, events: list[DeviceEvent], state: CabinetState, emit: Emit) -> None:
        """Publish ``events`` and keep ``state`` (only when it changed)."""
        text = as_text(state)
        changed = text != self._saved
        if self.store is not None:
            if events or changed:
                self.store.save_with(events, {self.device: text} if changed else {})
                self._saved = text
            return
        if events:
            emit(events)
        if changed and self.state_file is not None:
            try:
                write_file(self.state_file, text)
                self._saved = text
            except OSError as exc:
                self.errors += 1
                log.error("cabinet %s: cannot save its state to %s: %s", self.device, self.state_file, exc)

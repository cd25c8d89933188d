"""The real agent process SIGKILLed after every step of a return, a take, a forced door, a door
held open and a slot emptied without a scan — over both lock-board families and both wirings.
After each kill the agent restarts from its own files; the events on the broker and the cabinet's
inventory must be what happened, every time: nothing lost, nothing invented, nothing repeated.
And one take finished while the agent was down: found on the next start, marked reconciled."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from casewatch.simulation.cabinet import CabinetSimulator
from tests.agent_process import AgentProcess, agent_config
from tests.brokers import Mosquitto, mosquitto_binary
from tests.test_agent_process import KEY, decode_all, everything
from tests.waiting import wait_until

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(mosquitto_binary() is None, reason="needs Debian's mosquitto (.ci/run installs it)"),
]
DOC = "A3301020250001-01"
WIRINGS = {
    "modbus": ("modbus", 0, 1),
    "modbus-inverted": ("modbus", 1, 0),
    "kerong-cu16": ("kerong-cu16", 1, 1),
}
Seen = tuple[str, str | None, dict[str, Any]]


@dataclass
class Rig:
    tmp: Path
    broker: Mosquitto
    cabinet: CabinetSimulator
    agent: AgentProcess
    events: Any

    def seen(self) -> list[Seen]:
        """Cabinet events on the broker, each once (a resend after a kill carries the same id)."""
        unique: dict[str, Any] = {}
        for event in decode_all(self.events.messages):
            if event.kind.startswith("cabinet."):
                unique.setdefault(event.id, event)
        ordered = sorted(unique.values(), key=lambda e: e.seq)
        return [
            (e.kind, getattr(e.subject, "slot", None), e.data.model_dump(exclude_none=True)) for e in ordered
        ]

    def online(self, since: int = 0) -> bool:
        for event in reversed(decode_all(self.events.messages[since:])):
            if event.kind == "device.health":
                return bool(event.data.state == "online")
        return False

    def restart(self) -> None:
        self.agent.kill()
        mark = len(self.events.messages)  # the next "online" must come from the new process
        self.agent.start()
        assert wait_until(lambda: self.online(mark), 15), "the cabinet did not come back online"

    def inventory(self) -> dict[str, str]:
        """What the agent stored, read from its outbox the way the next start will."""
        with closing(sqlite3.connect(self.tmp / "data" / "outbox.db")) as db:
            row = db.execute("SELECT state FROM device_state WHERE device = 'cab-1'").fetchone()
        return dict(json.loads(row[0])["inventory"]) if row else {}


@pytest.fixture(params=list(WIRINGS))
def rig(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Rig]:
    family, door_closed, file_present = WIRINGS[request.param]
    broker = Mosquitto(tmp_path / "broker", mosquitto_binary() or "")
    broker.workdir.mkdir()
    broker.start()
    cabinet = CabinetSimulator(
        slots=4, enrolled={"P1001": 7}, family=family,
        door_closed_level=door_closed, file_present_level=file_present,
    )  # fmt: skip
    cabinet.put("s04")  # a file that lay there before casewatch was installed
    cabinet.start()
    config = agent_config(
        tmp_path, broker.port, key=KEY,
        rooms=[{"id": "dossier-1", "name": "卷宗室", "type": "dossier"}],
        devices=[{"id": "cab-1", "driver": "dossier-cabinet", "room": "dossier-1",
                  "options": cabinet.options(door_held_s=2, grant_window_s=60)}],
    )  # fmt: skip
    events = everything(broker)
    agent = AgentProcess(config, tmp_path / "agent.log")
    rig = Rig(tmp_path, broker, cabinet, agent, events)
    try:
        agent.start()
        assert wait_until(rig.online, 15)
        yield rig
    finally:
        agent.stop()
        cabinet.close()
        broker.stop()
        events.close()


def touch(cabinet: CabinetSimulator) -> None:
    cabinet.finger("P1001")
    time.sleep(0.5)
    cabinet.finger(None)


def slot(state: str, document: str | None, scanned: bool, **more: Any) -> dict[str, Any]:
    return {"state": state, **({"document": document} if document else {}), "scanned": scanned, **more}


def access(action: str, where: str) -> dict[str, Any]:
    return {"granted": True, "reason": "granted", "action": action, "officers": ["P1001"], "document": DOC,
            "slot": where}  # fmt: skip


def open_granted(cabinet: CabinetSimulator, slot: str) -> None:
    """The officer opens the door the grant unlocked; a lock never pulsed fails the test here."""
    assert wait_until(lambda: cabinet.open_door(slot), 10), f"{slot} stayed locked"


def door(where: str, state: str) -> Seen:
    return ("cabinet.door", where, {"state": state})


def steps(cabinet: CabinetSimulator) -> list[tuple[str, Callable[[], object], list[Seen]]]:
    """(what, do it, the events it must add), in order; the agent is killed after each."""
    scan = ("cabinet.scan", None, {"code": DOC})
    unscanned = ("cabinet.slot", "s04", slot("out", None, False))
    c = cabinet
    return [
        ("finger for a return", lambda: touch(c), []),
        ("scan the file", lambda: c.scan(DOC), [scan, ("cabinet.access", "s01", access("return", "s01"))]),
        ("open the granted door", lambda: open_granted(c, "s01"), [door("s01", "open")]),
        ("put the file in", lambda: c.put("s01"), [("cabinet.slot", "s01", slot("in", DOC, True))]),
        ("close the door", lambda: c.close_door("s01"), [door("s01", "closed")]),
        ("scan for a take", lambda: c.scan(DOC), [scan]),
        ("finger for the take", lambda: touch(c), [("cabinet.access", "s01", access("take", "s01"))]),
        ("open the door again", lambda: open_granted(c, "s01"), [door("s01", "open")]),
        ("take the file out", lambda: c.take("s01"), [("cabinet.slot", "s01", slot("out", DOC, True))]),
        ("close it", lambda: c.close_door("s01"), [door("s01", "closed")]),
        ("force a door", lambda: c.open_door("s02", force=True), [door("s02", "forced")]),
        ("close the forced door", lambda: c.close_door("s02"), [door("s02", "closed")]),
        ("force and hold a door", lambda: c.open_door("s03", force=True), [door("s03", "forced")]),
        ("keep it open past door_held_s", lambda: time.sleep(2.5), [door("s03", "held_open")]),
        ("close the held door", lambda: c.close_door("s03"), [door("s03", "closed")]),
        ("empty a slot without a scan", lambda: c.take("s04"), [unscanned]),
    ]


def without_times(seen: list[Seen]) -> list[Seen]:
    return [(k, s, {f: v for f, v in d.items() if f != "open_since"}) for k, s, d in seen]


def test_every_step_survives_a_sigkill_of_the_agent(rig: Rig) -> None:
    expected: list[Seen] = []
    for what, do, adds in steps(rig.cabinet):
        do()
        expected += adds
        assert wait_until(lambda: without_times(rig.seen()) == expected, 10), (what, rig.seen())  # noqa: B023
        rig.restart()
        time.sleep(0.5)  # a few board polls of the new process: nothing may be repeated or invented
        assert without_times(rig.seen()) == expected, f"after the restart that followed: {what}"
    assert rig.inventory() == {}
    assert "Traceback" not in rig.agent.log.read_text()


def test_a_take_finished_while_the_agent_was_dead_is_found_and_reconciled(rig: Rig) -> None:
    cabinet = rig.cabinet
    touch(cabinet)
    cabinet.scan(DOC)
    assert wait_until(lambda: cabinet.open_door("s01"), 10)
    time.sleep(0.4)  # hands take time: each change is seen by a board poll (0.1 s)
    cabinet.put("s01")
    time.sleep(0.4)
    cabinet.close_door("s01")
    assert wait_until(lambda: rig.inventory() == {DOC: "s01"}, 10)
    time.sleep(2.1)  # the scanner drops a code read again within 2 s
    cabinet.scan(DOC)
    touch(cabinet)
    assert wait_until(lambda: any(s[2].get("action") == "take" for s in rig.seen()), 10), rig.seen()
    rig.agent.kill()
    assert wait_until(lambda: cabinet.open_door("s01"), 5)  # the lock was pulsed before the kill
    cabinet.take("s01")
    cabinet.close_door("s01")
    rig.agent.start()
    found = ("cabinet.slot", "s01", slot("out", DOC, True, reconciled=True))
    assert wait_until(lambda: found in rig.seen(), 15), rig.seen()
    assert rig.inventory() == {}
    assert [s for s in rig.seen() if s[0] == "cabinet.door" and s[2].get("reconciled")] == []

"""``casewatch cabinet probe`` as an installer uses it: the real command against a simulated cabinet
whose "installer" (a thread) opens whichever door the probe unlocked, puts a file in, takes it out
and shuts the door. The proposed YAML must be the cabinet's real wiring and polarity — and a
config built from it must read the cabinet right."""

from __future__ import annotations

import subprocess
import threading
import time
from typing import Any

import pytest
import yaml

from casewatch.simulation.cabinet import CabinetSimulator
from devices.cabinet import CabinetOptions
from devices.cabinet_probe import SlotWiringFound, changes, propose
from tests.agent_process import CASEWATCH
from tests.conftest import REPO


def installer(sim: CabinetSimulator, slots: int, stop: threading.Event) -> None:
    """Reacts to the probe's pulses like a person at the cabinet (about a second per gesture)."""
    seen = 0
    while not stop.is_set() and seen < slots:
        if len(sim.board.pulses) > seen:
            lock = sim.board.pulses[seen]
            seen += 1
            name = sim.slot_name(lock)
            for act in (sim.open_door, sim.put, sim.take, sim.close_door):
                time.sleep(0.6)
                act(name)
        time.sleep(0.05)


@pytest.mark.parametrize(("family", "door_closed", "file_present"),
                         [("modbus", 0, 1), ("modbus", 1, 0), ("kerong-cu16", 1, 1)])  # fmt: skip
def test_probe_guides_through_the_slots_and_proposes_the_real_wiring(
    family: str, door_closed: int, file_present: int
) -> None:
    levels = {"door_closed_level": door_closed, "file_present_level": file_present}
    sim = CabinetSimulator(slots=3, enrolled={"P1001": 7}, family=family, **levels).start()
    stop = threading.Event()
    hand = threading.Thread(target=installer, args=(sim, 3, stop), daemon=True)
    hand.start()
    try:
        done = subprocess.run(
            [CASEWATCH, "cabinet", "probe", "--board-port", sim.ptys["board"].path, "--family", family,
             "--fingerprint-port", sim.ptys["fingerprint"].path, "--slots", "3", "--step-timeout", "15"],
            capture_output=True, text=True, timeout=120, cwd=REPO, check=False,
        )  # fmt: skip
    finally:
        stop.set()
        sim.close()
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 个指纹" in done.stdout and "capacity 300" in done.stdout  # the module was checked
    proposal = yaml.safe_load(done.stdout.split("# 建议配置", 1)[1].split("\n", 1)[1])
    assert proposal["board"] == {"door_closed_level": door_closed, "file_present_level": file_present}
    assert proposal["slots"] == {name: wiring for name, wiring in sim.wiring().items() if name <= "s03"}
    options = CabinetOptions.model_validate(
        {"fingerprint": {"port": "x"}, "scanner": {"port": "x"},
         "board": {"port": "x", "family": family, **proposal["board"]}, "slots": proposal["slots"]}
    )  # fmt: skip
    shut_and_empty = list(sim.board.inputs)
    assert not any(options.door_open(s, shut_and_empty) or options.file_present(s, shut_and_empty)
                   for s in proposal["slots"])  # fmt: skip


def test_watch_mode_prints_each_change_and_a_dead_board_fails_clearly() -> None:
    sim = CabinetSimulator(slots=2).start()
    try:
        threading.Timer(1.5, lambda: sim.open_door("s02", force=True)).start()
        watched = subprocess.run(
            [CASEWATCH, "cabinet", "probe", "--board-port", sim.ptys["board"].path, "--seconds", "3"],
            capture_output=True, text=True, timeout=60, cwd=REPO, check=False,
        )  # fmt: skip
        assert watched.returncode == 0, watched.stderr
        assert "输入 input 1: 0 → 1" in watched.stdout
        sim.silent = True
        dead = subprocess.run(
            [CASEWATCH, "cabinet", "probe", "--board-port", sim.ptys["board"].path, "--seconds", "1"],
            capture_output=True, text=True, timeout=60, cwd=REPO, check=False,
        )  # fmt: skip
        assert dead.returncode == 1 and "✗ 锁控板 (lock board)" in dead.stdout
    finally:
        sim.close()


def test_propose_takes_the_majority_level_and_overrides_the_odd_slot() -> None:
    found = [
        SlotWiringFound("s01", 0, 0, 0, 16, 1),
        SlotWiringFound("s02", 1, 1, 0, 17, 1),
        SlotWiringFound("s03", 2, 2, 1, 18, 1),  # one door wired the other way round
    ]
    out: dict[str, Any] = propose(found)
    assert out["board"] == {"door_closed_level": 0, "file_present_level": 1}
    assert out["slots"]["s03"] == {
        "lock_coil": 2,
        "door_input": 2,
        "occupied_input": 18,
        "door_closed_level": 1,
    }
    assert "door_closed_level" not in out["slots"]["s01"]
    assert [c.input for c in changes([False, True, False], [True, True, True])] == [0, 2]


def test_a_slot_that_was_not_empty_at_the_start_is_left_out_not_guessed() -> None:
    sim = CabinetSimulator(slots=3, enrolled={}).start()
    sim.put("s02")  # the installer forgot a file in s02: its "put" changes nothing, its "take" does
    stop = threading.Event()
    hand = threading.Thread(target=installer, args=(sim, 3, stop), daemon=True)
    hand.start()
    try:
        done = subprocess.run(
            [CASEWATCH, "cabinet", "probe", "--board-port", sim.ptys["board"].path, "--slots", "3",
             "--step-timeout", "4"],
            capture_output=True, text=True, timeout=120, cwd=REPO, check=False,
        )  # fmt: skip
    finally:
        stop.set()
        sim.close()
    assert done.returncode == 0, done.stdout + done.stderr
    proposal = yaml.safe_load(done.stdout.split("# 建议配置", 1)[1].split("\n", 1)[1])
    assert set(proposal["slots"]) == {"s01", "s03"} and "✗ s02" in done.stdout
    assert proposal["board"] == {"door_closed_level": 0, "file_present_level": 1}  # not flipped by s02

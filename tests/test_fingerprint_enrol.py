"""Safe enrolment: waits for the finger (by the clock, not by a poll count), needs a lift between
the two captures, refuses a finger already enrolled and an occupied page (unless replacing), and
picks the first free page — driven against the simulated module, on a manual clock and over a
real PTY with the finger arriving 3 s after the command."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable

from casewatch.simulation.cabinet import CabinetSimulator
from casewatch.simulation.fingerprint_module import SimulatedModule
from devices.fingerprint import GEN_IMG, FingerprintDecoder, Later
from devices.fingerprint_enrol import EnrolFailed, Enrolled, EnrolPlan, enrolment
from protocol.clock import ManualClock
from tests.test_cli import run

Script = Callable[[float], str | None]


def drive(plan: EnrolPlan, module: SimulatedModule, finger: Script) -> tuple[object, list[str]]:
    """Run the dialogue; ``finger(t)`` is what lies on the sensor ``t`` seconds after the start."""
    clock, decoder, said = ManualClock(), FingerprintDecoder(), []
    dialogue = enrolment(plan, clock, said.append)
    step = next(dialogue)
    try:
        while True:
            if isinstance(step, Later):
                clock.advance(int(step.delay_s * 1000))
                step = step.request
            module.finger = finger(clock.monotonic())
            (ack,) = decoder.feed(module.respond(step))
            step = dialogue.send(ack)
    except StopIteration as done:
        return done.value, said


def touch(*spans: tuple[float, float], name: str = "P3003") -> Script:
    """The finger lies on the sensor during each (from, to) span of seconds."""
    return lambda t: name if any(a <= t < b for a, b in spans) else None


def test_waits_for_the_finger_needs_a_lift_and_stores_at_the_first_free_page() -> None:
    module = SimulatedModule(enrolled={"P1001": 0, "P1002": 1, "P1004": 3})
    outcome, said = drive(EnrolPlan(), module, touch((3, 4), (6, 7)))
    assert outcome == Enrolled(2)
    assert module.enrolled["P3003"] == 2
    assert any("lift" in line for line in said) and any("again" in line for line in said)


def test_a_finger_never_lifted_is_not_enrolled() -> None:
    module = SimulatedModule()
    outcome, _ = drive(EnrolPlan(finger_timeout_s=20), module, touch((1, 1000)))
    assert outcome == EnrolFailed("the finger was not lifted within 20 s")
    assert module.enrolled == {}


def test_no_finger_waits_the_whole_time_limit_then_says_so() -> None:
    module = SimulatedModule()
    outcome, _ = drive(EnrolPlan(finger_timeout_s=20, poll_s=0.2), module, touch())
    assert outcome == EnrolFailed("no finger was placed within 20 s")
    polls = module.commands.count(GEN_IMG)
    assert 95 <= polls <= 105  # one every 0.2 s for 20 s, not 300 back to back


def test_a_finger_already_enrolled_is_refused_naming_its_page() -> None:
    module = SimulatedModule(enrolled={"P1001": 7})
    outcome, _ = drive(EnrolPlan(), module, touch((0, 1), (2, 3), name="P1001"))
    assert outcome == EnrolFailed("this finger is already enrolled at page 7", 0)
    assert module.enrolled == {"P1001": 7}


def test_an_occupied_page_is_refused_unless_replacing() -> None:
    module = SimulatedModule(enrolled={"P1001": 7, "P1002": 0})
    refused, _ = drive(EnrolPlan(page=7), module, touch((0, 1), (2, 3), name="P2002"))
    assert refused == EnrolFailed(
        "page 7 already holds a finger (first free page: 1; --replace overwrites it)"
    )
    assert module.commands.count(GEN_IMG) == 0  # refused before asking for a finger
    replaced, _ = drive(EnrolPlan(page=7, replace=True), module, touch((0, 1), (2, 3), name="P2002"))
    assert replaced == Enrolled(7) and module.enrolled == {"P2002": 7, "P1002": 0}


def test_the_index_table_is_read_past_the_first_256_pages() -> None:
    module = SimulatedModule(capacity=1000, enrolled={f"F{p}": p for p in range(300)})
    outcome, _ = drive(EnrolPlan(capacity=1000), module, touch((0, 1), (2, 3), name="new"))
    assert outcome == Enrolled(300)


def test_two_different_fingers_are_not_combined() -> None:
    module = SimulatedModule()
    script: Script = lambda t: "P1" if t < 1 else ("P2" if 2 <= t < 3 else None)  # noqa: E731
    outcome, _ = drive(EnrolPlan(), module, script)
    assert outcome == EnrolFailed("the two captures are not the same finger", 0x0A)
    assert module.enrolled == {}


def place_later(simulator: CabinetSimulator, name: str) -> threading.Thread:
    """The installer's hand: on at 3 s, lifted at 4.5 s, on again at 5.5 s, off at 7 s."""

    def hand() -> None:
        for at, finger in ((3, name), (4.5, None), (5.5, name), (7, None)):
            time.sleep(at - (time.monotonic() - started))
            simulator.finger(finger)

    started = time.monotonic()
    thread = threading.Thread(target=hand, daemon=True)
    thread.start()
    return thread


def test_fingers_enrol_list_and_delete_over_a_pty_with_the_finger_arriving_after_3_s() -> None:
    simulator = CabinetSimulator(enrolled={"P1001": 0}).start()
    simulator.fingerprint.password = 0x2024
    port = simulator.ptys["fingerprint"].path
    try:
        hand = place_later(simulator, "P3003")
        started = time.monotonic()
        done = run("fingers", "enrol", "--port", port, "--password", "0x2024")
        assert done.returncode == 0, done.stderr
        assert time.monotonic() - started >= 5.5 and "stored at page 1" in done.stdout
        hand.join()
        assert simulator.fingerprint.enrolled == {"P1001": 0, "P3003": 1}
        again = run(
            "fingers", "enrol", "--port", port, "--password", "0x2024", "--page", "1", "--timeout", "2"
        )
        assert again.returncode == 1 and "page 1 already holds a finger (first free page: 2" in again.stderr
        listed = run("fingers", "list", "--port", port, "--password", "0x2024")
        assert listed.returncode == 0 and "2 个指纹" in listed.stdout, listed.stderr
        assert [line.split()[0] for line in listed.stdout.splitlines()[1:]] == ["0", "1"]
        assert run("fingers", "delete", "--port", port, "--password", "0x2024", "--page", "0").returncode == 0
        assert simulator.fingerprint.enrolled == {"P3003": 1}
        wrong = run("fingers", "list", "--port", port)
        assert wrong.returncode == 1 and "wrong password" in wrong.stderr
    finally:
        simulator.close()


def test_the_old_enrol_finger_name_still_works() -> None:
    simulator = CabinetSimulator(enrolled={}).start()
    try:
        hand = place_later(simulator, "P4004")
        done = run("enrol-finger", "--port", simulator.ptys["fingerprint"].path, "--page", "21")
        assert done.returncode == 0, done.stderr
        hand.join()
        assert simulator.fingerprint.enrolled == {"P4004": 21}
    finally:
        simulator.close()


def test_a_missing_port_fails_clearly() -> None:
    done: subprocess.CompletedProcess[str] = run("fingers", "enrol", "--port", "/dev/ttyNOSUCH")
    assert done.returncode == 1 and "cannot open fingerprint module port" in done.stderr


def test_a_page_mapped_to_an_officer_is_not_given_to_another_finger() -> None:
    module = SimulatedModule(enrolled={"P1001": 0})  # P1002's finger at page 1 was deleted…
    plan = EnrolPlan(mapped=frozenset({0, 1}))  # …but `officers:` still maps page 1 to P1002
    outcome, _ = drive(plan, module, touch((0, 1), (2, 3), name="P3003"))
    assert outcome == Enrolled(2)
    refused, _ = drive(EnrolPlan(page=1, mapped=frozenset({1})), module, touch((0, 1), (2, 3), name="P4"))
    assert refused == EnrolFailed(
        "page 1 is mapped in officers: (first free page: 3; --replace overwrites it)"
    )


def test_a_search_answer_outside_the_library_is_no_match_and_a_module_without_an_index_can_still_enrol() -> (
    None
):
    class OddModule(SimulatedModule):
        def _command(self, request):  # type: ignore[no-untyped-def]
            if request.code == 0x04:  # Search: "found" at page 0xFFFF
                return self._ack(0x00, bytes.fromhex("FFFF0000"))
            if request.code == 0x1F:  # an older clone without ReadIndexTable
                return self._ack(0x01)
            return super()._command(request)

    module = OddModule()
    refused, _ = drive(EnrolPlan(), module, touch((0, 1), (2, 3)))
    assert isinstance(refused, EnrolFailed) and "give --page and --replace" in refused.reason
    outcome, said = drive(EnrolPlan(page=5, replace=True), module, touch((0, 1), (2, 3)))
    assert outcome == Enrolled(5) and module.enrolled == {"P3003": 5}
    assert any("index unreadable" in line for line in said)

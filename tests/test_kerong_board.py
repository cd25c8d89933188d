"""The Kerong CU16 lock-board family: frames checked against vectors from public notes about these
boards (not derived from our code), decoding through noise and splits, and the board driver over a
real PTY against the simulated board — including another board's address and a dead board."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from casewatch.simulation.kerong_board import SimulatedKerongBoard
from casewatch.simulation.wristbands import PtyResponder
from devices.kerong_board import KerongLockBoard
from devices.kerong_frames import KerongDecoder, read_status, status_reply, unlock
from devices.lock_board import BoardError
from tests.fuzzing import CODEC_FUZZ


def test_request_frames_match_the_published_vectors() -> None:
    assert read_status(0) == bytes.fromhex("0200300335")
    assert unlock(0, 0) == bytes.fromhex("0200310336")  # lock 1 on the label
    assert unlock(1, 15) == bytes.fromhex("021F310355")  # board 1, lock 16
    with pytest.raises(ValueError, match="16-lock board"):
        unlock(0, 16)


def test_a_status_reply_decodes_to_hooks_then_slot_sensors() -> None:
    (reply,) = KerongDecoder().feed(bytes.fromhex("020035010001000 33C".replace(" ", "")))
    inputs = reply.inputs()
    assert reply.board == 0 and len(inputs) == 32
    assert [i for i, on in enumerate(inputs) if on] == [0, 16]  # lock 1 hook, slot 1 sensor
    hooks = [i % 3 == 0 for i in range(16)]
    sensors = [i > 12 for i in range(16)]
    (again,) = KerongDecoder().feed(status_reply(5, hooks, sensors))
    assert again.board == 5 and again.inputs() == hooks + sensors


@CODEC_FUZZ
@given(st.binary(max_size=40), st.integers(1, 9))
def test_noise_and_splits_cost_only_the_noise(noise: bytes, step: int) -> None:
    noise = noise.replace(b"\x02", b"\x00")
    good = status_reply(3, [True] * 16, [False] * 16)
    stream = noise + good + good
    decoder = KerongDecoder()
    got = []
    for i in range(0, len(stream), step):
        got += decoder.feed(stream[i : i + step])
    assert len(got) == 2 and decoder.dropped_bytes == len(noise)


def test_a_bad_sum_is_dropped_and_counted() -> None:
    bad = bytearray(read_status(0))
    bad[-1] ^= 0xFF
    decoder = KerongDecoder()
    assert decoder.feed(bytes(bad) + read_status(2))[0].board == 2
    assert decoder.bad_checksums == 1


def test_the_driver_reads_and_unlocks_its_own_board_on_a_shared_bus() -> None:
    mine, other = SimulatedKerongBoard(unit=2), SimulatedKerongBoard(unit=3)
    mine.inputs[4] = mine.inputs[16 + 4] = True
    bus = PtyResponder(lambda data: mine.respond(data) + other.respond(data)).start()
    try:
        board = KerongLockBoard(bus.path, board=2)
        bits = board.read_inputs(0, 32)
        assert [i for i, on in enumerate(bits) if on] == [4, 20]
        board.open_lock(7)
        board.release_lock(7)  # the board times its own pulse
        assert mine.pulses == [7] and other.pulses == []
        board.close()
        with pytest.raises(BoardError, match=r"board 9\) did not answer .* DIP address"):
            KerongLockBoard(bus.path, board=9, timeout_s=0.3).read_inputs(0, 32)
    finally:
        bus.close()


def test_a_missing_port_is_a_board_error() -> None:
    with pytest.raises(BoardError, match="cannot open lock board port"):
        KerongLockBoard("/dev/ttyNOSUCH-casewatch").read_inputs(0, 8)

"""The EF01 fingerprint protocol: DEVICES.md's test frames, decoding, and the identify dialogue."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from casewatch.simulation.cabinet import CabinetSimulator
from casewatch.simulation.fingerprint_module import SimulatedModule
from devices.fingerprint import (
    PID_ACK,
    Enrol,
    Enrolled,
    FingerprintDecoder,
    Identify,
    Matched,
    NotMatched,
    gen_img,
    img2tz,
    packet,
    search_result,
)
from devices.fingerprint_link import FingerprintLink
from foundation.errors import DeviceError
from tests.fuzzing import CODEC_FUZZ


def test_commands_match_the_reference_frames() -> None:
    assert gen_img() == bytes.fromhex("EF01FFFFFFFF0100030100 05".replace(" ", ""))
    assert img2tz(1) == bytes.fromhex("EF01FFFFFFFF010004020100 08".replace(" ", ""))


def test_search_ack_reference_frame_decodes_to_page_and_score() -> None:
    frame = bytes.fromhex("EF01FFFFFFFF07000700000500640077")
    (ack,) = FingerprintDecoder().feed(frame)
    assert ack.pid == PID_ACK and ack.text == "ok"
    assert search_result(ack) == (5, 100)


@CODEC_FUZZ
@given(st.lists(st.binary(min_size=1, max_size=20), max_size=6), st.binary(max_size=30))
def test_packets_survive_splits_and_leading_noise(payloads, noise) -> None:
    noise = noise.replace(b"\xef", b"\x00")
    stream = noise + b"".join(packet(PID_ACK, p) for p in payloads)
    decoder = FingerprintDecoder()
    got = []
    for i in range(0, len(stream), 7):
        got += decoder.feed(stream[i : i + 7])
    assert [p.payload for p in got] == payloads
    assert decoder.dropped_bytes == len(noise)


@CODEC_FUZZ
@given(st.binary(max_size=300))
def test_random_bytes_never_raise_and_the_next_good_packet_decodes(noise: bytes) -> None:
    decoder = FingerprintDecoder()
    decoder.feed(noise)
    good = packet(PID_ACK, b"\x00\x00\x07\x00\x64")
    got = decoder.feed(good + bytes(270))  # zeros complete whatever bogus frame the noise began
    assert b"\x00\x00\x07\x00\x64" in [p.payload for p in got]


def test_bad_checksum_is_dropped_and_counted() -> None:
    good = packet(PID_ACK, b"\x00")
    bad = bytearray(good)
    bad[-1] ^= 1
    decoder = FingerprintDecoder()
    assert [p.payload for p in decoder.feed(bytes(bad) + good)] == [b"\x00"]
    assert decoder.bad_checksums == 1


def run(
    identify: Identify | Enrol,
    module: SimulatedModule,
    finger_after_polls: int = 0,
    finger: str | None = None,
):
    decoder = FingerprintDecoder()
    step = identify.start()
    polls = 0
    while isinstance(step, bytes):
        polls += 1
        if polls > finger_after_polls:
            module.finger = finger
        (ack,) = decoder.feed(module.respond(step))
        step = identify.answer(ack)
    return step, polls


def test_identify_polls_until_a_finger_then_matches_its_page() -> None:
    module = SimulatedModule(enrolled={"P1001-right-index": 5})
    outcome, polls = run(Identify(), module, finger_after_polls=3, finger="P1001-right-index")
    assert outcome == Matched(page=5, score=100)
    assert polls == 3 + 1 + 2  # three "no finger" polls, GenImg, Img2Tz, Search


def test_unknown_finger_and_no_finger() -> None:
    module = SimulatedModule(enrolled={"P1001-right-index": 5})
    assert run(Identify(), module, finger="stranger")[0] == NotMatched("not found")
    assert run(Identify(max_polls=5), SimulatedModule(), finger=None)[0] == NotMatched("no finger")


def test_enrol_stores_the_finger_at_the_page_then_identify_finds_it() -> None:
    module = SimulatedModule(capacity=300)
    outcome, _ = run(Enrol(page=12), module, finger="P1003-left-thumb")
    assert outcome == Enrolled(12)
    assert module.enrolled == {"P1003-left-thumb": 12}
    assert run(Identify(), module, finger="P1003-left-thumb")[0] == Matched(page=12, score=100)


def test_enrol_refuses_a_page_beyond_the_library() -> None:
    outcome, _ = run(Enrol(page=500), SimulatedModule(capacity=300), finger="P1003")
    assert outcome == NotMatched("page out of range")


def test_enrol_over_a_real_pty_with_the_link() -> None:
    sim = CabinetSimulator(enrolled={})
    sim.start()
    try:
        sim.finger("P2002")
        link = FingerprintLink(sim.ptys["fingerprint"].path)
        assert link.run(Enrol(page=3)) == Enrolled(3)
        assert link.run(Identify()) == Matched(page=3, score=100)
        sim.silent = True
        with pytest.raises(DeviceError, match="did not answer"):
            link.run(Identify())
        link.close()
    finally:
        sim.close()

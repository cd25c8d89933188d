"""The EF01 fingerprint protocol: DEVICES.md's test frames, decoding, the identify dialogue, module
passwords and addresses over a real PTY."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from casewatch.simulation.cabinet import CabinetSimulator
from casewatch.simulation.fingerprint_module import SimulatedModule
from devices.fingerprint import (
    PID_ACK,
    FingerprintDecoder,
    Identify,
    Matched,
    NotMatched,
    gen_img,
    img2tz,
    packet,
    search_result,
)
from devices.fingerprint_link import FingerprintLink, ModuleRefused
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
    identify: Identify,
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
    assert run(Identify(), module, finger="stranger")[0] == NotMatched("not found", 0x09)
    assert run(Identify(max_polls=5), SimulatedModule(), finger=None)[0] == NotMatched("no finger")


def test_a_refusal_keeps_the_modules_code() -> None:
    module = SimulatedModule(enrolled={"P1001": 5}, password=0x1234)
    outcome = run(Identify(), module, finger="P1001")[0]
    assert outcome == NotMatched("the password must be verified first", 0x21) and outcome.refused


def test_identify_over_a_real_pty_with_the_link_and_a_module_that_falls_silent() -> None:
    sim = CabinetSimulator(enrolled={"P2002": 3})
    sim.start()
    try:
        sim.finger("P2002")
        link = FingerprintLink(sim.ptys["fingerprint"].path)
        assert link.run(Identify()) == Matched(page=3, score=100)
        sim.silent = True
        with pytest.raises(DeviceError, match="did not answer"):
            link.run(Identify())
        link.close()
    finally:
        sim.close()


def test_a_password_protected_module_works_with_its_password_and_says_so_without() -> None:
    sim = CabinetSimulator(enrolled={"P2002": 3})
    sim.fingerprint.password = 0x0BADCAFE
    sim.start()
    try:
        sim.finger("P2002")
        with pytest.raises(ModuleRefused, match=r"0x13 \(wrong password\): set fingerprint.password"):
            FingerprintLink(sim.ptys["fingerprint"].path).run(Identify())
        link = FingerprintLink(sim.ptys["fingerprint"].path, password=0x0BADCAFE)
        assert link.run(Identify()) == Matched(page=3, score=100)
        link.close()
    finally:
        sim.close()


def test_packets_go_to_the_configured_address_and_a_wrong_one_gets_silence() -> None:
    sim = CabinetSimulator(enrolled={"P2002": 3})
    sim.fingerprint.address = 0x00000001
    sim.start()
    try:
        sim.finger("P2002")
        link = FingerprintLink(sim.ptys["fingerprint"].path, address=1)
        assert link.run(Identify()) == Matched(page=3, score=100)
        link.close()
        with pytest.raises(DeviceError, match="address 0xFFFFFFFF"):
            FingerprintLink(sim.ptys["fingerprint"].path, answer_timeout_s=0.3).run(Identify())
    finally:
        sim.close()

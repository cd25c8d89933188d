"""The RS-485 wristband codec: round trips, split reads, garbage and bad CRCs."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from devices.crc import crc16_modbus
from devices.readings import (
    BandBatteryReading,
    BandButtonReading,
    BandSighting,
    BandTamperReading,
    BandVitalsReading,
)
from devices.wristband_frames import WristbandDecoder, band_id, encode
from tests.fuzzing import CODEC_FUZZ

BANDS = st.integers(0, 2**32 - 1).map(band_id)
READINGS = st.one_of(
    st.builds(BandSighting, BANDS, st.integers(0, 65535).map(str), st.integers(-128, 127)),
    st.builds(
        BandVitalsReading,
        BANDS,
        st.none() | st.integers(0, 254),
        st.none() | st.integers(0, 100),
        st.none() | st.integers(0, 600).map(lambda t: t / 10),
    ),
    st.builds(BandTamperReading, BANDS, st.booleans(), st.booleans()),
    st.builds(BandBatteryReading, BANDS, st.integers(0, 100), st.integers(1, 65535)),
    st.builds(BandButtonReading, BANDS, st.integers(0, 255), st.sampled_from(["short", "long", "double"])),
)


def test_crc_matches_the_modbus_test_frames() -> None:
    assert crc16_modbus(bytes.fromhex("010200000010")).to_bytes(2, "little") == bytes.fromhex("79C6")
    assert crc16_modbus(bytes.fromhex("01050003FF00")).to_bytes(2, "little") == bytes.fromhex("7C3A")


def test_frames_in_docs_devices_md() -> None:
    examples = {
        "AA 55 08 01 00 00 00 2A 00 0C C3 E1 B5": BandSighting("0000002A", "12", -61),
        "AA 55 09 02 00 00 00 2A 58 61 01 6E 62 4C": BandVitalsReading("0000002A", 88, 97, 36.6),
        "AA 55 06 03 00 00 00 2A 01 A3 93": BandTamperReading("0000002A", True, False),
        "AA 55 08 04 00 00 00 2A 12 0E 24 C0 A5": BandBatteryReading("0000002A", 18, 3620),
        "AA 55 07 05 00 00 00 2A 00 01 B4 E5": BandButtonReading("0000002A", 0, "long"),
    }
    docs = (Path(__file__).parent.parent / "docs" / "devices.md").read_text(encoding="utf-8")
    for hex_frame, reading in examples.items():
        assert f"`{hex_frame}`" in docs
        assert encode(reading) == bytes.fromhex(hex_frame)
        assert WristbandDecoder().feed(bytes.fromhex(hex_frame)) == [reading]


@CODEC_FUZZ
@given(st.lists(READINGS, max_size=20), st.data())
def test_any_stream_split_anywhere_decodes_to_the_same_readings(readings, data) -> None:
    stream = b"".join(encode(r) for r in readings)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=8)))
    decoder = WristbandDecoder()
    out = []
    for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        out += decoder.feed(stream[a:b])
    assert out == readings
    assert decoder.stats.dropped_bytes == 0


@CODEC_FUZZ
@given(st.lists(READINGS, min_size=1, max_size=10), st.binary(max_size=40))
def test_garbage_between_frames_is_skipped_and_counted(readings, garbage) -> None:
    garbage = garbage.replace(b"\xaa", b"\x00")  # no accidental headers in the noise
    stream = b"".join(garbage + encode(r) for r in readings)
    decoder = WristbandDecoder()
    assert decoder.feed(stream) == readings
    assert decoder.stats.dropped_bytes == len(garbage) * len(readings)


def test_bad_crc_drops_one_frame_and_keeps_the_next() -> None:
    good = encode(BandTamperReading("00000001", True, False))
    corrupt = bytearray(good)
    corrupt[-1] ^= 0xFF
    decoder = WristbandDecoder()
    assert decoder.feed(bytes(corrupt) + good) == [BandTamperReading("00000001", True, False)]
    assert decoder.stats.bad_crc == 1


@CODEC_FUZZ
@given(st.binary(max_size=500))
def test_random_bytes_never_raise(noise: bytes) -> None:
    WristbandDecoder().feed(noise)

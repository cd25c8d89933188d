"""Scanner framing, Chinese text in GBK or UTF-8, duplicate reads, idle flush."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from devices.scanner import Scan, ScannerDecoder
from tests.fuzzing import CODEC_FUZZ

CASE = "公安局案件A3301020250001-01"


def test_line_framing_with_any_line_ending_and_split_reads() -> None:
    decoder = ScannerDecoder(dedupe_ms=0)
    stream = b"A1\rB2\nC3\r\n"
    got = []
    for i, byte in enumerate(stream):
        got += decoder.feed(bytes([byte]), i)
    assert [s.code for s in got] == ["A1", "B2", "C3"]


def test_gbk_and_utf8_chinese() -> None:
    decoder = ScannerDecoder(dedupe_ms=0)
    assert decoder.feed(CASE.encode("gbk") + b"\r\n", 0) == [Scan(CASE, "gb18030")]
    assert decoder.feed(CASE.encode("utf-8") + b"\r\n", 10) == [Scan(CASE, "utf-8")]


def test_stx_etx_keeps_line_breaks_inside_a_qr_code() -> None:
    decoder = ScannerDecoder(framing="stx")
    qr = "案件:A33\r\n卷宗:01"
    assert decoder.feed(b"noise\x02" + qr.encode() + b"\x03", 0) == [Scan(qr, "utf-8")]


def test_duplicate_reads_within_the_window_are_dropped() -> None:
    decoder = ScannerDecoder(dedupe_ms=2000)
    assert len(decoder.feed(b"X1\r", 0)) == 1
    assert decoder.feed(b"X1\r", 500) == []
    assert len(decoder.feed(b"X2\r", 600)) == 1
    assert len(decoder.feed(b"X1\r", 2600)) == 1
    assert decoder.duplicates == 1


def test_unterminated_code_is_flushed_after_the_idle_gap() -> None:
    decoder = ScannerDecoder(framing="line", idle_ms=300)
    assert decoder.feed(b"NOSUFFIX", 0) == []
    assert decoder.flush_idle(100) == []
    assert decoder.flush_idle(300) == [Scan("NOSUFFIX", "utf-8")]


def test_undecodable_bytes_are_replaced_and_counted() -> None:
    decoder = ScannerDecoder()
    (scan,) = decoder.feed(b"\xff\xfe\xfd\r", 0)
    assert "\ufffd" in scan.code and decoder.undecodable == 1


@CODEC_FUZZ
@given(st.binary(max_size=3000))
def test_random_bytes_never_raise_and_codes_stay_bounded(noise: bytes) -> None:
    decoder = ScannerDecoder(max_length=256)
    for scan in decoder.feed(noise, 0) + decoder.flush_idle(10_000):
        assert len(scan.code) <= 256

"""UCS2 SMS PDUs: Chinese text, long messages in parts, surrogate pairs never split."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devices.sms_pdu import Pdu, decode_submit_text, encode_submit, split_parts
from tests.fuzzing import CODEC_FUZZ


def test_short_chinese_message_is_one_pdu() -> None:
    (pdu,) = encode_submit("+8613800138000", "讯问室1 单人讯问 黄色预警")
    assert pdu.hex.startswith("0011000D91683108108300F00008A7")
    assert pdu.tpdu_length == len(bytes.fromhex(pdu.hex)) - 1
    assert decode_submit_text(pdu.hex) == ("+8613800138000", "讯问室1 单人讯问 黄色预警", None)


def test_national_number_and_odd_digit_count() -> None:
    (pdu,) = encode_submit("10086", "好")
    assert "0581" + "0180F6" in pdu.hex  # 5 digits, unknown type, swapped with F padding
    assert decode_submit_text(pdu.hex)[0] == "10086"


def test_exactly_seventy_characters_fit_one_message_seventy_one_need_two() -> None:
    assert len(encode_submit("10086", "警" * 70)) == 1
    parts = encode_submit("10086", "警" * 71, reference=7)
    assert [(p.part, p.parts) for p in parts] == [(1, 2), (2, 2)]
    assert [decode_submit_text(p.hex)[2] for p in parts] == [(7, 2, 1), (7, 2, 2)]
    assert "".join(decode_submit_text(p.hex)[1] for p in parts) == "警" * 71


def test_surrogate_pairs_stay_whole() -> None:
    text = "警" * 66 + "😀" + "尾"
    parts = split_parts(text + "x" * 10)
    assert len(parts[0]) // 2 == 66  # the pair did not fit the 67th unit: it moved to part two
    assert parts[1].decode("utf-16-be").startswith("😀")


@CODEC_FUZZ
@given(st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=400), st.integers(0, 255))
def test_any_text_round_trips_through_its_parts(text: str, reference: int) -> None:
    parts: list[Pdu] = encode_submit("+8613800138000", text, reference=reference)
    decoded = [decode_submit_text(p.hex) for p in parts]
    assert "".join(d[1] for d in decoded) == text
    assert all(len(d[1].encode("utf-16-be")) // 2 <= (70 if len(parts) == 1 else 67) for d in decoded)


@pytest.mark.parametrize("number", ["", "abc", "+86 138", "1" * 30])
def test_bad_numbers_are_refused(number: str) -> None:
    with pytest.raises(ValueError):
        encode_submit(number, "x")

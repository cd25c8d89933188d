"""Sending SMS through a modem: the AT dialogue against a simulated modem, then over a real PTY."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from casewatch.simulation.modem import SimulatedModem
from casewatch.simulation.wristbands import PtyResponder
from devices.modem import LineReader, ModemLink, SendSms, SmsResult
from devices.sms_pdu import decode_submit_text
from tests.fuzzing import CODEC_FUZZ

LINES = ["OK", "ERROR", "> ", "+CMS ERROR: 500", "+CME ERROR: 10", "+CPIN: READY", "+CREG: 0,1",
         "+CSQ: 20,99", "+CMGS: 12", "+CMTI: \"SM\",3", "RING", "+CREG: 2"]  # fmt: skip
TEXT = "【执法办案监督】讯问室1 单人讯问已持续5分钟，橙色预警，请立即整改。"


def converse(dialogue: SendSms, modem: SimulatedModem) -> SmsResult:
    reader = LineReader()
    pending = dialogue.start()
    for _ in range(200):
        for line in reader.feed(modem.respond(pending)):
            step = dialogue.line(line)
            if isinstance(step, SmsResult):
                return step
            if step is not None:
                pending = step
                break
        else:
            pending = b""
    raise AssertionError("dialogue did not finish")


def test_chinese_message_is_sent_with_unsolicited_lines_in_between() -> None:
    modem = SimulatedModem(urc_every=1)
    dialogue = SendSms("+8613800138000", TEXT)
    result = converse(dialogue, modem)
    assert result == SmsResult(True, (1,), None, 1)
    assert decode_submit_text(modem.sent[0])[1] == TEXT
    assert dialogue.unsolicited and all(u.startswith("+CMTI") for u in dialogue.unsolicited)


def test_long_message_goes_in_parts() -> None:
    modem = SimulatedModem()
    result = converse(SendSms("10086", TEXT * 3, reference=9), modem)
    assert result.ok and len(result.references) == len(modem.sent) == 2
    assert "".join(decode_submit_text(p)[1] for p in modem.sent) == TEXT * 3


def test_a_refused_part_is_retried() -> None:
    modem = SimulatedModem(fail_sends=2)
    result = converse(SendSms("10086", "测试", retries=2), modem)
    assert result.ok and result.attempts == 3
    failing = SimulatedModem(fail_sends=5)
    result = converse(SendSms("10086", "测试", retries=2), failing)
    assert not result.ok and "+CMS ERROR: 500" in (result.error or "")


@pytest.mark.parametrize(
    ("modem", "reason"),
    [
        (SimulatedModem(sim_ready=False), "cpin"),
        (SimulatedModem(registered=False), "not registered"),
        (SimulatedModem(csq=99), "no signal"),
    ],
)
def test_checks_before_sending(modem: SimulatedModem, reason: str) -> None:
    result = converse(SendSms("10086", "测试"), modem)
    assert not result.ok and reason in (result.error or "") and modem.sent == []


@pytest.mark.parametrize(
    ("respond", "reason"),
    [
        (lambda _data: b"", "did not answer"),
        (lambda _data: b"\x00\xff~~garbage\r\n+++\r\n", "did not answer"),
        (lambda _data: b"\r\nERROR\r\n", "ERROR"),
    ],
    ids=["silent", "garbage", "error"],
)
def test_a_bad_modem_fails_with_the_reason_in_bounded_time(
    respond: Callable[[bytes], bytes], reason: str
) -> None:
    responder = PtyResponder(respond).start()
    started = time.monotonic()
    try:
        result = ModemLink(responder.path, timeout_s=1.5).send("+8613800138000", TEXT)
    finally:
        responder.close()
    assert not result.ok and reason in (result.error or ""), result
    assert time.monotonic() - started < 5


@CODEC_FUZZ
@given(st.binary(max_size=600), st.lists(st.sampled_from(LINES) | st.text(max_size=20), max_size=12))
def test_random_modem_output_never_breaks_the_reader_or_the_dialogue(noise: bytes, lines: list[str]) -> None:
    reader = LineReader()
    for line in reader.feed(noise):
        assert "\r" not in line and "\n" not in line
    dialogue = SendSms("+8613800138000", TEXT)
    dialogue.start()
    for line in lines:
        step = dialogue.line(line)
        assert step is None or isinstance(step, bytes | SmsResult)
        if isinstance(step, SmsResult):
            break


def test_over_a_real_serial_port() -> None:
    modem = SimulatedModem()
    responder = PtyResponder(modem.respond).start()
    try:
        result = ModemLink(responder.path, timeout_s=10).send("+8613800138000", TEXT)
    finally:
        responder.close()
    assert result.ok, result
    assert decode_submit_text(modem.sent[0]) == ("+8613800138000", TEXT, None)


def test_missing_port_is_a_clear_failure() -> None:
    result = ModemLink("/dev/ttyNOSUCH", timeout_s=1).send("10086", "x")
    assert not result.ok and "/dev/ttyNOSUCH" in (result.error or "")

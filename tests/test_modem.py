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


def test_the_sim_pin_is_entered_when_the_modem_asks_for_it() -> None:
    modem = SimulatedModem(pin="4321")
    result = converse(SendSms("13800138000", TEXT, pin="4321"), modem)
    assert result.ok and modem.pin_tries == ["4321"] and len(modem.sent) == 1
    again = converse(SendSms("13800138000", TEXT, pin="4321"), modem)  # already unlocked: not re-entered
    assert again.ok and modem.pin_tries == ["4321"]


def test_a_sim_that_needs_a_pin_and_has_none_configured_says_which_setting() -> None:
    result = converse(SendSms("13800138000", TEXT), SimulatedModem(pin="4321"))
    assert not result.ok and result.error == "the SIM asks for its PIN: set notify.sms.pin"


def test_a_wrong_pin_is_tried_once_per_start_never_into_a_puk_lock() -> None:
    modem = SimulatedModem(pin="4321")
    responder = PtyResponder(modem.respond).start()
    try:
        link = ModemLink(responder.path, pin="1111", timeout_s=5)
        first = link.send("13800138000", TEXT)
        assert (
            not first.ok
            and "the SIM refused the PIN" in (first.error or "")
            and "notify.sms.pin" in first.error
        )
        for _ in range(3):
            later = link.send("13800138000", TEXT)
            assert not later.ok and "not tried again" in (later.error or "")
        assert modem.pin_tries == ["1111"] and modem.sent == []  # one attempt: two left before a PUK
    finally:
        responder.close()


def test_a_puk_locked_sim_is_reported_as_such() -> None:
    modem = SimulatedModem(pin="4321", pin_tries=["0", "1", "2"])
    result = converse(SendSms("13800138000", TEXT, pin="4321"), modem)
    assert not result.ok and "needs its PUK" in (result.error or "")


def test_an_empty_message_is_a_failed_delivery_not_an_exception() -> None:
    from hub.notify.channels import SmsChannel

    modem = SimulatedModem()
    responder = PtyResponder(modem.respond).start()
    try:
        link = ModemLink(responder.path, timeout_s=5)
        assert link.send("13800138000", "  ").error == "empty message: nothing to send"

        class Note:
            id, target, body = 7, "13800138000", ""

        delivery = SmsChannel(link).send(Note(), None)  # type: ignore[arg-type]
        assert not delivery.ok and "empty message" in delivery.detail
        assert modem.sent == []
    finally:
        responder.close()


@pytest.mark.parametrize("template", ["{comment}", " {where}{comment} ", ""])
def test_a_template_that_can_render_empty_is_refused(template: str) -> None:
    from pydantic import TypeAdapter, ValidationError

    from hub.config import Template

    with pytest.raises(ValidationError):
        TypeAdapter(Template).validate_python(template)
    assert TypeAdapter(Template).validate_python("提醒：{comment}") == "提醒：{comment}"


def test_the_pin_setting_is_checked_when_the_hub_file_is_loaded() -> None:
    from pydantic import ValidationError

    from hub.config import SmsSettings

    assert SmsSettings.model_validate({"port": "/dev/ttyUSB2", "pin": "1234"}).sim_pin() == "1234"
    for bad in ("12", "12ab", "123456789"):
        with pytest.raises(ValidationError, match="4–8 digits"):
            SmsSettings.model_validate({"port": "/dev/ttyUSB2", "pin": bad})


def test_a_pin_that_the_modem_accepts_but_the_sim_still_asks_for_is_entered_only_once() -> None:
    modem = SimulatedModem(pin="4321", pin_accepted_late=True)
    responder = PtyResponder(modem.respond).start()
    try:
        link = ModemLink(responder.path, pin="4321", timeout_s=5)
        results = [link.send("13800138000", TEXT) for _ in range(4)]
        assert modem.pin_tries == ["4321"] and not any(r.ok for r in results)
        assert "still asks for its PIN after it was entered" in (results[0].error or "")
        assert "not tried again" in (results[-1].error or "")
    finally:
        responder.close()


def test_pin2_is_not_the_sim_pin_and_does_not_stop_sms() -> None:
    modem = SimulatedModem(pin2=True)
    result = converse(SendSms("13800138000", TEXT, pin="4321"), modem)
    assert result.ok and modem.pin_tries == []


@pytest.mark.parametrize("code", ["PH-SIM PIN", "PH-NET PIN", "SIM PUK"])
def test_other_locks_are_named_and_no_pin_is_spent_on_them(code: str) -> None:
    dialogue = SendSms("13800138000", TEXT, pin="4321")
    dialogue.start()
    dialogue.line("OK")  # AT+CMEE=2
    dialogue.line(f"+CPIN: {code}")
    result = dialogue.line("OK")
    assert isinstance(result, SmsResult) and not result.ok and dialogue.pin_entered is None
    assert code in (result.error or "") or "PUK" in (result.error or "")


@pytest.mark.parametrize(
    "template", ["提醒 {at:%H:%M}", "提醒 {level!u}", "提醒 {title:{bogus}}", "提醒 {title:d}"]
)
def test_a_template_that_passes_the_names_but_cannot_render_is_refused_at_load(template: str) -> None:
    from pydantic import TypeAdapter, ValidationError

    from hub.config import Template

    with pytest.raises(ValidationError):
        TypeAdapter(Template).validate_python(template)

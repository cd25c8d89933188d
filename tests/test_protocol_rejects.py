"""Whatever is not a valid, authentic, well-timed event is refused with a typed reason."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.canonical import canonical_bytes
from protocol.clock import ManualClock
from protocol.codec import MAX_PAYLOAD_BYTES, encode
from protocol.errors import (
    EncodingError,
    MalformedError,
    OversizeError,
    ProtocolError,
    SchemaError,
    SignatureError,
    SkewError,
    TopicError,
    UnknownAgentError,
    UnknownKindError,
)
from protocol.signing import signed
from tests.protocol_helpers import KEY_A, KEY_B, LAYOUT, NOW, decoder, example

VALID = example("occupancy")
RAW = encode(VALID)
TOPIC = LAYOUT.topic_for(VALID)


def resign(doc: dict, key: bytes = KEY_A) -> bytes:
    return canonical_bytes(signed(doc, key))


def reject(
    raw: bytes, error: type[ProtocolError], topic: str | None = TOPIC, clock: ManualClock | None = None
):
    with pytest.raises(error) as info:
        decoder(clock).decode(raw, topic)
    assert info.value.reason
    assert info.value.message
    assert info.value.raw == raw[:256]
    return info.value


def test_tampered_payload_fails_signature() -> None:
    tampered = RAW.replace(b'"count":1', b'"count":2')
    assert tampered != RAW
    reject(tampered, SignatureError)


def test_wrong_key_fails_signature() -> None:
    reject(encode(example("occupancy", key=KEY_B)), SignatureError)


def test_agent_claiming_another_agents_id_fails_signature() -> None:
    # box-02 signs with its own key but claims to be box-01, on box-01's topic
    forged = encode(example("occupancy", agent="box-01", key=KEY_B))
    err = reject(forged, SignatureError)
    assert "box-01" in err.message


def test_event_replayed_under_another_agents_topic_is_refused() -> None:
    other_topic = LAYOUT.events("c1", "box-02", "occupancy")
    err = reject(RAW, TopicError, topic=other_topic)
    assert "box-02" in err.message and "box-01" in err.message


def test_event_on_the_wrong_kind_topic_is_refused() -> None:
    reject(RAW, TopicError, topic=LAYOUT.events("c1", "box-01", "band.vitals"))


def test_unknown_agent() -> None:
    doc = json.loads(RAW)
    doc["agent"] = "box-99"
    reject(resign(doc), UnknownAgentError, topic=None)


def test_truncated_json() -> None:
    err = reject(RAW[:-7], MalformedError)
    assert "JSON" in err.message


@settings(max_examples=300, deadline=None)
@given(cut=st.integers(min_value=0, max_value=len(RAW) - 1))
def test_every_truncation_is_refused(cut: int) -> None:
    with pytest.raises(ProtocolError):
        decoder().decode(RAW[:cut], TOPIC)


def test_one_mebibyte_payload_is_refused_before_parsing() -> None:
    err = reject(b"{" + b" " * (1024 * 1024) + b"}", OversizeError)
    assert str(MAX_PAYLOAD_BYTES) in err.message


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity", b"1e999", b"-1e400"])
def test_nan_and_infinite_numbers_are_refused(literal: bytes) -> None:
    raw = RAW.replace(b'"confidence":0.82', b'"confidence":' + literal)
    assert raw != RAW
    reject(raw, MalformedError)


def test_nan_cannot_be_signed_either() -> None:
    with pytest.raises(ValueError):
        example("occupancy", confidence=float("nan"))


@pytest.mark.parametrize("bad", [b"\xff\xfe{}", RAW[:40] + b"\xc3\x28" + RAW[42:], b"\xed\xa0\x80"])
def test_non_utf8_bytes_are_refused(bad: bytes) -> None:
    reject(bad, EncodingError)


def test_unknown_kind() -> None:
    doc = json.loads(RAW)
    doc["kind"] = "occupancy.v2"
    err = reject(resign(doc), UnknownKindError, topic=None)
    assert "occupancy.v2" in err.message


def test_missing_field_is_named() -> None:
    doc = json.loads(RAW)
    del doc["seq"]
    err = reject(resign(doc), SchemaError)
    assert ("seq", "Field required") in err.problems


def test_missing_data_field_is_named() -> None:
    doc = json.loads(RAW)
    del doc["data"]["count"]
    err = reject(resign(doc), SchemaError)
    assert any(path == "data.count" for path, _ in err.problems)


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("seq",), "1"),  # string for an int: no coercion
        (("seq",), True),  # bool is not an int on this wire
        (("seq",), 0),  # seq starts at 1
        (("ts",), 1.5),
        (("data", "count"), -1),
        (("data", "confidence"), 1.5),
        (("data", "track_ids"), "17"),
        (("subject", "room"), "讯问室1"),  # keys only, topic-safe
        (("subject", "room"), "a/b"),
        (("agent",), "box+01"),
        (("v",), 2),
        (("id",), "not-a-uuid"),
        (("data", "extra"), 1),  # unknown fields are refused
    ],
)
def test_wrong_types_and_values_are_refused(path: tuple[str, ...], value: object) -> None:
    doc = json.loads(RAW)
    target = doc
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    err = reject(resign(doc), SchemaError, topic=None)
    assert any(p.startswith(".".join(path[:1])) for p, _ in err.problems)


def test_duplicate_keys_are_refused() -> None:
    raw = RAW.replace(b'{"agent":"box-01",', b'{"agent":"box-01","agent":"box-02",', 1)
    assert raw != RAW
    reject(raw, MalformedError)


def test_deep_nesting_is_refused() -> None:
    reject(b"[" * 10_000 + b"]" * 10_000, MalformedError)


@pytest.mark.parametrize("raw", [b"[]", b"42", b'"x"', b"null", b""])
def test_non_objects_are_refused(raw: bytes) -> None:
    reject(raw, MalformedError)


def test_event_from_the_future_is_refused() -> None:
    clock = ManualClock(NOW - 6 * 60 * 1000)  # receiver 6 min behind the event
    err = reject(RAW, SkewError, clock=clock)
    assert "ahead" in err.message


def test_event_within_the_skew_bound_is_accepted() -> None:
    assert decoder(ManualClock(NOW - 4 * 60 * 1000)).decode(RAW, TOPIC) == VALID


def test_event_older_than_the_age_bound_is_refused() -> None:
    reject(RAW, SkewError, clock=ManualClock(NOW + 31 * 24 * 3600 * 1000))


def test_event_replayed_from_an_outbox_days_later_is_accepted() -> None:
    assert decoder(ManualClock(NOW + 3 * 24 * 3600 * 1000)).decode(RAW, TOPIC) == VALID


def test_missing_signature() -> None:
    doc = json.loads(RAW)
    del doc["sig"]
    reject(canonical_bytes(doc), SchemaError)


@settings(max_examples=1000, deadline=None)
@given(position=st.integers(0, len(RAW) - 1), replacement=st.integers(0, 255))
def test_any_single_byte_change_is_refused(position: int, replacement: int) -> None:
    if RAW[position] == replacement:
        replacement = (replacement + 1) % 256
    mutated = RAW[:position] + bytes([replacement]) + RAW[position + 1 :]
    with pytest.raises(ProtocolError):
        decoder().decode(mutated, TOPIC)


@settings(max_examples=1000, deadline=None)
@given(st.binary(max_size=2048))
def test_arbitrary_bytes_raise_only_protocol_errors(raw: bytes) -> None:
    with pytest.raises(ProtocolError):
        decoder().decode(raw, TOPIC)


@settings(max_examples=500, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
        max_leaves=20,
    )
)
def test_arbitrary_json_raises_only_protocol_errors(value: object) -> None:
    raw = json.dumps(value).encode()
    with pytest.raises(ProtocolError):
        decoder().decode(raw, TOPIC)


def test_signing_is_over_canonical_form_so_key_order_does_not_matter() -> None:
    doc = json.loads(RAW)
    reordered = json.dumps(dict(reversed(list(doc.items()))), indent=2, ensure_ascii=False).encode()
    assert reordered != RAW
    assert decoder().decode(reordered, TOPIC) == VALID
    assert NOW  # the example's time is the decoder clock's

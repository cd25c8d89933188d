"""Every kind survives encode -> decode unchanged, for the documented example and for any
valid data the schema allows (generated from the kind's own JSON Schema)."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocol.codec import encode
from protocol.envelope import Subject, new_event
from protocol.kinds import KINDS
from tests.protocol_helpers import KEY_A, LAYOUT, NOW, decoder, example
from tests.schema_strategies import from_schema


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_example_round_trips(kind: str) -> None:
    event = example(kind)
    raw = encode(event)
    received = decoder().decode(raw, LAYOUT.topic_for(event))
    assert received == event
    assert received.canonical() == raw
    assert isinstance(received.data, KINDS[kind].model)


def test_wire_form_is_canonical_json() -> None:
    raw = encode(example("occupancy"))
    doc = json.loads(raw)
    assert list(doc) == sorted(doc)
    assert b" " not in raw.replace(b"cam-int-1", b"")  # no insignificant whitespace
    assert set(doc) == {"v", "id", "seq", "ts", "center", "agent", "source", "kind", "subject", "data", "sig"}


def _data_strategy(kind: str) -> st.SearchStrategy[dict[str, object]]:
    schema = KINDS[kind].model.model_json_schema()
    return from_schema(schema)


_KIND_AND_DATA = st.sampled_from(sorted(KINDS)).flatmap(
    lambda kind: st.tuples(st.just(kind), _data_strategy(kind))
)
_KEYS = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9_.-]{0,20}\Z")


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kind_data=_KIND_AND_DATA, seq=st.integers(1, 2**53 - 1), ts_offset=st.integers(-10**9, 10**5),
       subject_key=_KEYS)  # fmt: skip
def test_any_valid_event_round_trips(kind_data: tuple[str, dict[str, object]], seq: int, ts_offset: int,
                                     subject_key: str) -> None:  # fmt: skip
    kind, data = kind_data
    subject = Subject(
        **{key: subject_key for key in ("room", "camera", "zone", "band", "device", "cabinet", "slot")}
    )
    event = new_event(
        key=KEY_A, seq=seq, ts=NOW + ts_offset, center="c1", agent="box-01", source="s",
        kind=kind, subject=subject, data=data,
    )  # fmt: skip
    received = decoder().decode(encode(event), LAYOUT.topic_for(event))
    assert received == event
    assert received.canonical() == encode(event)

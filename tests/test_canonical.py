"""Our fast canonical encoder produces exactly the RFC 8785 reference bytes."""

from __future__ import annotations

import math

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.canonical import CanonicalError, StrictJSONError, canonical_bytes, loads_strict

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53) + 1, 2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=6), inner, max_size=5),
    max_leaves=30,
)


@settings(max_examples=1000, deadline=None)
@given(JSON)
def test_equals_the_reference_encoder(value: object) -> None:
    try:
        expected = rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, UnicodeEncodeError):  # lone surrogates in hypothesis text
        with pytest.raises(CanonicalError):
            canonical_bytes(value)
        return
    assert canonical_bytes(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        5.0,
        -0.0,
        1e16,
        1e21,
        1e-7,
        123456789012345680.0,
        0.1,
        1e-4,
        2.5e-5,
        {"é": 1, "z": 2, "😀": 3, "\ue000": 4},
    ],
)
def test_number_and_key_edge_cases(value: object) -> None:
    assert canonical_bytes(value) == rfc8785.dumps(value)


@pytest.mark.parametrize("value", [math.nan, math.inf, 2**53, {1: "x"}, object()])
def test_values_without_a_canonical_form(value: object) -> None:
    with pytest.raises(CanonicalError):
        canonical_bytes(value)


def test_strict_loading() -> None:
    assert loads_strict('{"a":[1,2.5,"x"]}') == {"a": [1, 2.5, "x"]}
    for bad in ('{"a":1,"a":2}', "[NaN]", "[1e400]", "[" * 40 + "]" * 40, '{"a":'):
        with pytest.raises(StrictJSONError):
            loads_strict(bad)
    assert loads_strict('["[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["]')  # brackets inside strings are text

"""Canonical JSON (RFC 8785, JCS): the one byte form that is signed, sent and hash-chained.

JCS fixes key order, whitespace, string escaping and number formatting, so an integrator in any
language with a JCS library reproduces the bytes exactly. Parsing is strict on purpose: NaN and
Infinity, duplicate keys and nesting deeper than ``MAX_DEPTH`` are refused instead of guessed at.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import rfc8785

MAX_DEPTH = 32
"""Deepest nesting a payload may use; our schemas need five."""


class CanonicalError(ValueError):
    """A value has no canonical JSON form (NaN, infinity, an integer beyond 2**53, a non-JSON type)."""


class StrictJSONError(ValueError):
    """Text that strict parsing refuses."""


def canonical_bytes(value: Any) -> bytes:
    """The RFC 8785 form of ``value`` as UTF-8 bytes."""
    try:
        return rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        raise CanonicalError(str(exc) or type(exc).__name__) from exc


def without(doc: Mapping[str, Any], field: str) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k != field}


def _reject_constant(name: str) -> Any:
    raise StrictJSONError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise StrictJSONError(f"number {text[:20]} overflows a double")
    return value


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise StrictJSONError(f"duplicate key {key!r}")
        result[key] = value
    return result


def _depth(text: str) -> int:
    deepest = depth = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


def loads_strict(text: str) -> Any:
    """Parse JSON text refusing NaN/Infinity, duplicate keys and excessive nesting."""
    if _depth(text) > MAX_DEPTH:
        raise StrictJSONError(f"nesting deeper than {MAX_DEPTH}")
    try:
        return json.loads(
            text,
            parse_constant=_reject_constant,
            parse_float=_finite_float,
            object_pairs_hook=_no_duplicate_keys,
        )
    except json.JSONDecodeError as exc:
        raise StrictJSONError(f"{exc.msg} at line {exc.lineno} column {exc.colno}") from exc
    except RecursionError as exc:  # pragma: no cover - guarded by the depth check
        raise StrictJSONError("nesting too deep") from exc

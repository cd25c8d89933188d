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


_MAX_INT = 2**53 - 1


class _NeedsReference(Exception):
    """The fast path cannot promise RFC 8785 output for this value; use the reference encoder."""


def _prepare(value: Any) -> Any:
    """A copy json.dumps renders exactly as JCS would, or raise ``_NeedsReference``."""
    if isinstance(value, str) or value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        if not -_MAX_INT <= value <= _MAX_INT:
            raise CanonicalError(f"integer {value} is outside the interoperable range")
        return value
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise CanonicalError(f"{value} has no JSON form")
        if value.is_integer() and abs(value) <= _MAX_INT:
            return int(value)  # ECMAScript prints 5.0 as 5 (and -0.0 as 0); exact below 2**53
        if value.is_integer() or "e" in repr(value):
            raise _NeedsReference  # big integral values and exponents are spelt differently in ECMAScript
        return value
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise CanonicalError(f"object key {key!r} is not a string")
            if not key.isascii():
                raise _NeedsReference  # JCS sorts by UTF-16 units, Python by code points
            out[key] = _prepare(item)
        return out
    if isinstance(value, list | tuple):
        return [_prepare(item) for item in value]
    raise CanonicalError(f"{type(value).__name__} is not a JSON type")


def canonical_bytes(value: Any) -> bytes:
    """The RFC 8785 form of ``value`` as UTF-8 bytes.

    ``json.dumps`` with sorted keys and no whitespace already is JCS for ASCII keys and for
    numbers written the same way in Python and ECMAScript, which is nearly every event; the rest
    goes through the reference ``rfc8785`` encoder (pure Python, about 20x slower).
    """
    try:
        prepared = _prepare(value)
    except _NeedsReference:
        try:
            return bytes(rfc8785.dumps(value))
        except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
            raise CanonicalError(str(exc) or type(exc).__name__) from exc
    try:
        text = json.dumps(
            prepared, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        )
        return text.encode("utf-8")
    except (TypeError, ValueError, UnicodeEncodeError) as exc:
        raise CanonicalError(str(exc)) from exc


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
    if text.count("[") + text.count("{") > MAX_DEPTH and _depth(text) > MAX_DEPTH:
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
    except ValueError as exc:  # e.g. an integer literal past Python's 4,300-digit conversion limit
        raise StrictJSONError(str(exc)[:200]) from exc
    except RecursionError as exc:  # pragma: no cover - guarded by the depth check
        raise StrictJSONError("nesting too deep") from exc

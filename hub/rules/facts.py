"""What rules see: one flat, enriched view of an event, and how ``Match`` tests it.

A ``Fact`` is an event from the store (an agent's, or a hub record) with its subject keys lifted
to the top level and what the hub knows added: the band's role, person, case, sex and flags from
the registry, the room's type. Rules then say ``person``, ``room_type`` or ``flags.minor``
instead of knowing where each event keeps them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from hub.rules.spec import Match

_MISSING = object()


CONTEXT_KEYS = (
    "room",
    "room_type",
    "band",
    "person",
    "case",
    "dossier",
    "cabinet",
    "slot",
    "camera",
    "device",
    "agent",
    "role",
    "sex",
    "procedure",
    "persons",
    "cases",
    "finding",
    "item",
    "item_title",
    "officers",
    "unit",
    "note",
)
"""Fact paths an alert keeps as its context (where, whom), plus ``condition``. ``persons`` and
``cases``: every detainee and case of a room condition (``person``/``case`` name one of them).
``item``, ``item_title``, ``officers``, ``unit``, ``note``: a manual finding's (hub/findings.py)."""


@dataclass(frozen=True)
class Fact:
    kind: str
    ts: int
    values: Mapping[str, Any] = field(default_factory=dict)
    """Top-level keys (``room``, ``band``, ``person``, ``room_type`` …) and ``data``/``flags``."""
    pos: int = 0
    """Position of the event in the store (0 for facts not from the store)."""

    @cached_property
    def context(self) -> dict[str, Any]:
        """What an alert should say about where and whom (kept small: it is persisted per key).

        Computed once and shared by every rule the fact opens an episode for: treat as read-only.
        """
        out = {k: self.values[k] for k in CONTEXT_KEYS if self.values.get(k) is not None}
        condition = self.get("data.condition")
        if isinstance(condition, str):
            out["condition"] = condition
        return out

    def get(self, path: str) -> Any:
        if path == "kind":
            return self.kind
        if path == "ts":
            return self.ts
        node: Any = self.values
        for part in path.split("."):
            if not isinstance(node, Mapping) or part not in node:
                return _MISSING
            node = node[part]
        return node

    @cached_property
    def _keys(self) -> dict[tuple[str, ...], tuple[str, ...] | None]:
        return {}

    def key(self, paths: list[str]) -> tuple[str, ...] | None:
        """The correlation key, or ``None`` when a part is missing (the rule does not apply).

        Rules keyed alike get the same tuple object: it is held by each of their states.
        """
        wanted = tuple(paths)
        if wanted in self._keys:
            return self._keys[wanted]
        found = self._key(paths)
        self._keys[wanted] = found
        return found

    def _key(self, paths: list[str]) -> tuple[str, ...] | None:
        out = []
        for path in paths:
            value = self.get(path)
            if value is _MISSING or value is None or isinstance(value, dict | list):
                return None
            out.append(str(value))
        return tuple(out)


def _test(value: Any, test: Any) -> bool:
    if isinstance(test, dict):
        return all(_operator(value, op, arg) for op, arg in test.items())
    if isinstance(test, list):
        return value is not _MISSING and value in test
    return value is not _MISSING and value == test


def _operator(value: Any, op: str, arg: Any) -> bool:
    if op == "exists":
        return (value is not _MISSING and value is not None) == bool(arg)
    if value is _MISSING or value is None:
        return op in ("ne", "not_in")
    try:
        if op == "eq":
            return bool(value == arg)
        if op == "ne":
            return bool(value != arg)
        if op == "in":
            return value in arg
        if op == "not_in":
            return value not in arg
        if op == "gt":
            return bool(value > arg)
        if op == "ge":
            return bool(value >= arg)
        if op == "lt":
            return bool(value < arg)
        if op == "le":
            return bool(value <= arg)
    except TypeError:
        return False
    raise ValueError(f"unknown operator {op!r}")


def matches(match: Match, fact: Fact) -> bool:
    if fact.kind not in match.kinds:
        return False
    if not all(_test(fact.get(path), test) for path, test in match.where.items()):
        return False
    return not match.any or any(
        all(_test(fact.get(path), test) for path, test in clause.items()) for clause in match.any
    )

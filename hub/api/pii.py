"""Personal numbers shown to those who need them: ID and phone numbers masked for viewers.

A viewer watches the centre (the big screen, a duty officer's browser); registering people and
reminding officers is an operator's work. So wherever an answer carries a person's ID number or an
officer's phone — the person records, the officer list, the log's intake and registration records,
a timeline — a viewer sees ``330***********1234`` / ``138****5678`` (the first three and last four
characters), operators and above the whole number.
"""

from __future__ import annotations

from typing import Any

from hub.api.auth import Principal

PII_KEYS = frozenset({"id_number", "phone"})


def mask(value: str) -> str:
    if len(value) <= 7:
        return "*" * len(value)
    return value[:3] + "*" * (len(value) - 7) + value[-4:]


def _redact(doc: Any) -> Any:
    if isinstance(doc, dict):
        return {k: (mask(v) if k in PII_KEYS and isinstance(v, str) else _redact(v)) for k, v in doc.items()}
    if isinstance(doc, list):
        return [_redact(item) for item in doc]
    return doc


def for_reader(doc: Any, who: Principal) -> Any:
    """``doc`` as ``who`` may read it: whole for operators and above, masked for viewers."""
    return doc if who.may("operator") else _redact(doc)

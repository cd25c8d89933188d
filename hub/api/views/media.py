"""Answers that are not JSON: their media types for OpenAPI."""

from __future__ import annotations

from typing import Any

BINARY: dict[str, Any] = {"schema": {"type": "string", "format": "binary"}}
TEXT: dict[str, Any] = {"schema": {"type": "string"}}


def media(binary: tuple[str, ...] = (), text: tuple[str, ...] = ()) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a 200 that is not JSON: the media types it may have, each a string."""
    content = {**{m: BINARY for m in binary}, **{m: TEXT for m in text}}
    return {200: {"content": content}}

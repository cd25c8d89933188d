"""The five colours of escalation, in order (RULES.md "Levels").

绿 green is a normal change, logged; 蓝 blue warns the handling officer; 黄 yellow adds the duty
supervisor; 橙 orange is a breached procedure and opens a rectification ticket; 红 red is a legal
limit exceeded or life, escape or evidence at stake.
"""

from __future__ import annotations

from typing import Literal

Level = Literal["green", "blue", "yellow", "orange", "red"]
LEVELS: tuple[Level, ...] = ("green", "blue", "yellow", "orange", "red")
CHINESE: dict[Level, str] = {"green": "绿", "blue": "蓝", "yellow": "黄", "orange": "橙", "red": "红"}
TICKET_LEVEL: Level = "orange"
"""From this level on an alert stays open until rectified and verified, even once cleared."""


def rank(level: Level) -> int:
    return LEVELS.index(level)


def higher(level: Level, steps: int = 1) -> Level:
    """The level ``steps`` above, capped at red."""
    return LEVELS[min(rank(level) + steps, len(LEVELS) - 1)]

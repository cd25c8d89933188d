"""What the remote-reminder form reads: the catalogue of risk items and who is responsible."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from hub.domain import ReadModel
from hub.rules.levels import Level


class CatalogueEntry(ReadModel):
    """A risk item: one of the rule pack's rules or a ``findings:`` item of the rule files."""

    id: str
    title: str
    basis: str
    level: Level = Field(description="The level the form proposes (a rule's highest).")
    source: Literal["rule", "manual"]


class FindingCatalogue(ReadModel):
    enabled: bool = Field(description="Rule MANUAL is in force (without it nothing can be raised).")
    items: list[CatalogueEntry]
    levels: list[Level]


class ResponsibleOfficer(ReadModel):
    id: str
    name: str | None = None
    unit: str | None = None
    police: bool | None = Field(None, description="民警 (true) or 辅警 auxiliary (false).")


class Responsible(ReadModel):
    """The form's prefill: officers with staff bands in the room, then the person's case's."""

    room: str | None
    case: str | None
    unit: str | None
    officers: list[ResponsibleOfficer]
    units: list[str] = Field(description="Every unit of a registered officer (the form's choices).")

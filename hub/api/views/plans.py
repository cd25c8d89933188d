"""Floor plans as the console reads them."""

from __future__ import annotations

from pydantic import Field

from hub.domain import ReadModel
from protocol.fields import Ms


class PlanView(ReadModel):
    """A plan: its picture (fetched from ``/plans/{id}/image``) and where rooms and cameras lie
    on it, in fractions of the picture's width and height."""

    id: str
    name: str | None = None
    sha256: str | None = None
    media: str | None = None
    width: int | None = None
    height: int | None = None
    rooms: dict[str, list[list[float]]] = Field(description="Room → polygon, [[x, y], …].")
    cameras: dict[str, list[float]] = Field(description="Camera → [x, y].")
    image_ts: Ms | None = None
    layout_ts: Ms | None = None

"""Packages and coverage as the console reads them."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from hub.domain import ReadModel
from protocol.fields import Ms


class UncoveredView(ReadModel):
    start: Ms
    end: Ms
    ms: int
    room: str | None = Field(description="Null: custody time in no known room (band lost).")
    room_name: str | None = None
    reason: str = Field(description="room_without_camera, recording_gap, not_recorded, position_unknown.")
    cameras: list[str] = Field(default_factory=list)
    cause: str | None = Field(None, description="A recording gap's reason: stream_lost, recorder_exited, …")
    detail: str | None = None


class CoverageView(ReadModel):
    """Custody time on camera (hub/coverage.py): to the release, or to now."""

    since: Ms
    until: Ms
    total_ms: int
    room_ms: int
    covered_ms: int
    percent: float
    rooms: dict[str, dict[str, int]] = Field(description="Room → `ms` there and `covered_ms` on camera.")
    uncovered: list[UncoveredView]
    missing_segments: list[dict[str, Any]] | None = None
    unanswered: list[dict[str, Any]] | None = None


class PartView(ReadModel):
    file: str = Field(description="Its name in the package: GET /packages/{id}/files/{file}.")
    camera: str
    room: str
    room_name: str
    stay: int
    start: Ms
    end: Ms
    segments: int
    media_ms: int | None = Field(
        None, description="The video's own duration: shorter than end − start if the camera stalled."
    )


class PackageView(ReadModel):
    """A person's package: waiting for the agents, ready (with its parts and coverage) or failed."""

    id: str
    kind: str = Field("person", description="person, or case (its persons' packages together).")
    person: str = Field(description="Empty for a case's package.")
    case: str | None = None
    members: list[str] = Field(default_factory=list, description="A case's package: its persons' packages.")
    persons: list[str] | None = None
    failed_persons: list[str] | None = None
    since: int | None = None
    until: int | None = None
    unanswered: int | None = None
    failed_parts: int | None = None
    trigger: str = Field(description="release, or request (from the console).")
    by: str
    created: Ms
    status: str = Field(description="waiting, ready, failed.")
    built: Ms | None = None
    error: str | None = None
    ranges: int = Field(description="Recording ranges asked of the agents.")
    answered: int
    parts: int | None = None
    percent: float | None = None
    missing: int | None = None
    manifest_sha256: str | None = None
    index: dict[str, Any] | None = None
    coverage: CoverageView | None = None


class PackageQueued(ReadModel):
    package: str

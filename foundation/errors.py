"""The errors of running casewatch that are not wire contract: configuration, models, devices.

::

    CasewatchError     protocol.errors   the root (every package depends on protocol)
    ├── ConfigError    here              a configuration file that cannot be used
    ├── ModelError     here              detector weights missing, corrupt, unfetchable
    └── DeviceError    here              a serial device that cannot be used
"""

from __future__ import annotations

from protocol.errors import CasewatchError


class ConfigError(CasewatchError):
    """A configuration file that cannot be used; ``issues`` holds every problem found."""

    def __init__(self, message: str, issues: list[ConfigIssue] | None = None) -> None:
        super().__init__(message)
        self.issues = issues or []

    def __str__(self) -> str:
        if not self.issues:
            return super().__str__()
        return "\n".join(str(issue) for issue in self.issues)


class ConfigIssue:
    """One problem in a configuration file, located as ``file:line:column``."""

    __slots__ = ("column", "expected", "file", "line", "path", "value")

    def __init__(
        self,
        *,
        file: str,
        line: int | None,
        column: int | None,
        path: str,
        expected: str,
        value: str | None = None,
    ) -> None:
        self.file = file
        self.line = line
        self.column = column
        self.path = path
        self.expected = expected
        self.value = value

    def location(self) -> str:
        if self.line is None:
            return self.file
        return f"{self.file}:{self.line}:{self.column}"

    def __str__(self) -> str:
        parts = [self.location()]
        if self.path:
            parts.append(self.path)
        text = ": ".join(parts) + ": " + self.expected
        if self.value is not None:
            text += f" (got {self.value})"
        return text

    def __repr__(self) -> str:
        return f"ConfigIssue({self})"


class ModelError(CasewatchError):
    """Detector weights are missing, corrupt, or cannot be fetched."""


class DeviceError(CasewatchError):
    """A serial device could not be opened, did not answer, or answered an error."""

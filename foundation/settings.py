"""Configuration pieces shared by the agent's and the hub's files: MQTT, secrets, paths, keys.

Secrets are never required inline: each can come from ``${ENV}`` interpolation or from a
``*_file`` key naming a file that holds only the secret (mode 0600 recommended).
"""

from __future__ import annotations

import zoneinfo
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationInfo,
    model_validator,
)

from protocol.fields import KEY_PATTERN
from protocol.signing import key_from_text
from protocol.topics import RESERVED_AGENT_IDS, TopicLayout

Key = Annotated[str, Field(pattern=KEY_PATTERN, description="Identifier: letters, digits, _ . -")]


class Settings(BaseModel):
    """Base of every config section: unknown keys are errors, values immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _relative_to_config(value: Path, info: ValidationInfo) -> Path:
    base = (info.context or {}).get("base_dir")
    if base is not None and not value.is_absolute():
        return (Path(base) / value).resolve()
    return value


def _existing_file(value: Path) -> Path:
    if not value.is_file():
        raise ValueError(f"file does not exist: {value}")
    return value


SECRET_FILES = "secret_files"
"""Validation context key: every secret file a config names, for the file-mode and demo checks
that the whole config makes (``foundation.secrets``: they depend on ``center``)."""


def _secret_file(value: Path, info: ValidationInfo) -> Path:
    _existing_file(value)
    try:
        if not value.read_text(encoding="utf-8").strip():
            raise ValueError(f"secret file is empty: {value}")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"secret file is not readable UTF-8 text: {exc}") from exc
    if info.context is not None:
        info.context.setdefault(SECRET_FILES, []).append(value)
    return value


def _key_file(value: Path, info: ValidationInfo) -> Path:
    _secret_file(value, info)
    key_from_text(value.read_text(encoding="utf-8"))  # raises ValueError when too short
    return value


def _timezone(value: str) -> str:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r} (e.g. Asia/Shanghai)") from None
    return value


def _topic_prefix(value: str) -> str:
    TopicLayout(value)  # raises TopicError (a ValueError is what pydantic wants)
    return value


ConfigPath = Annotated[Path, AfterValidator(_relative_to_config)]
"""A path; relative ones are relative to the configuration file's folder."""
ExistingFile = Annotated[Path, AfterValidator(_relative_to_config), AfterValidator(_existing_file)]
SecretFile = Annotated[Path, AfterValidator(_relative_to_config), AfterValidator(_secret_file)]
KeyFile = Annotated[Path, AfterValidator(_relative_to_config), AfterValidator(_key_file)]
TimeZone = Annotated[str, AfterValidator(_timezone)]


def read_secret(inline: SecretStr | None, file: Path | None) -> str | None:
    """The secret's text, from the inline value or its file."""
    if inline is not None:
        return inline.get_secret_value()
    if file is not None:
        return file.read_text(encoding="utf-8").strip()
    return None


def _one_of(inline: object, file: object, name: str) -> None:
    if inline is not None and file is not None:
        raise ValueError(f"give {name} or {name}_file, not both")


class TlsSettings(Settings):
    ca_file: ExistingFile | None = None
    cert_file: ExistingFile | None = None
    key_file: SecretFile | None = None
    insecure: bool = Field(False, description="Skip server certificate verification (tests only).")


class MqttSettings(Settings):
    """How to reach the MQTT broker."""

    host: str = "127.0.0.1"
    port: int = Field(1883, ge=1, le=65535)
    transport: Literal["tcp", "websockets"] = "tcp"
    protocol: Literal["auto", "3.1.1", "5"] = Field(
        "auto", description="auto: MQTT v5, falling back to 3.1.1 when the broker refuses it."
    )
    username: str | None = None
    password: SecretStr | None = None
    password_file: SecretFile | None = None
    client_id: str | None = Field(None, max_length=128)
    keepalive_s: int = Field(30, ge=5, le=3600)
    topic_prefix: Annotated[str, AfterValidator(_topic_prefix)] = "casewatch"
    tls: TlsSettings | None = None

    @model_validator(mode="after")
    def _secrets(self) -> MqttSettings:
        _one_of(self.password, self.password_file, "password")
        return self

    def password_value(self) -> str | None:
        return read_secret(self.password, self.password_file)


class SigningKey(Settings):
    """A signing key: ``key_file`` (recommended) or ``key`` (e.g. ``${CASEWATCH_KEY}``)."""

    key: SecretStr | None = None
    key_file: KeyFile | None = None
    retired_key_files: list[KeyFile] = Field(
        default_factory=list,
        description="Keys this identity signed with before a rotation: `hub verify` accepts them for "
        "events already in the log; nothing new is accepted with them.",
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> SigningKey:
        _one_of(self.key, self.key_file, "key")
        if self.key is None and self.key_file is None:
            raise ValueError("give key_file (or key)")
        if self.key is not None:
            key_from_text(self.key.get_secret_value())
        return self

    def key_bytes(self) -> bytes:
        text = read_secret(self.key, self.key_file)
        assert text is not None
        return key_from_text(text)

    def verify_keys(self) -> list[bytes]:
        """The current key first, then the retired ones (for checking what was signed before)."""
        retired = [key_from_text(path.read_text(encoding="utf-8")) for path in self.retired_key_files]
        return [self.key_bytes(), *retired]


def not_reserved_agent(value: str) -> str:
    if value in RESERVED_AGENT_IDS:
        raise ValueError(f"{value!r} is reserved by the topic layout")
    return value


AgentId = Annotated[Key, AfterValidator(not_reserved_agent)]

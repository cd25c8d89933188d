"""What a serial device is in the agent file's ``devices:`` section (docs/configuration.md): its
driver by name (``devices.registry``), port and driver options. Lives with the drivers;
``agent.config`` composes it into the whole file.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from foundation.settings import Key, Settings


class Device(Settings):
    id: Key
    driver: str = Field(..., description="A registered driver name.")
    port: str | None = Field(None, description="pyserial URL: /dev/ttyUSB0, socket://h:p, loop://")
    baudrate: int = Field(9600, ge=300, le=4_000_000)
    room: Key | None = None
    options: dict[str, Any] = Field(default_factory=dict, description="Driver-specific settings.")

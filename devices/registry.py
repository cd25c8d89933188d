"""Device drivers register here by name, so a YAML ``driver:`` picks one.

A driver turns bytes from a port into typed readings and never touches MQTT. Drivers arrive with
the serial-devices work; until one registers, any ``devices:`` entry is refused by ``config
check`` with the list of known names (empty), rather than failing later at start-up.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

_DRIVERS: dict[str, Any] = {}


def register_driver(name: str) -> Callable[[T], T]:
    """Class decorator: make the driver selectable as ``driver: name``."""

    def decorate(cls: T) -> T:
        if name in _DRIVERS and _DRIVERS[name] is not cls:
            raise ValueError(f"driver {name!r} is registered twice")
        _DRIVERS[name] = cls
        return cls

    return decorate


def known_drivers() -> list[str]:
    return sorted(_DRIVERS)


def driver(name: str) -> Any:
    try:
        return _DRIVERS[name]
    except KeyError:
        raise KeyError(f"unknown driver {name!r}; known: {', '.join(known_drivers()) or 'none'}") from None

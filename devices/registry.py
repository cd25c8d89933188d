"""Device drivers register here by name, so a YAML ``driver:`` picks one.

A driver turns bytes from a port into typed readings and never publishes. A *passive* driver has
``feed(bytes, now_ms)`` and ``tick(now_ms)`` and the device service reads its port; an *active*
one (``active = True``: the cabinet with three ports, the MQTT gateway) has ``start(emit,
on_health, clock)``, ``stop()`` and ``tick``. Every driver has an ``Options`` model, so ``config
check`` validates ``options:`` and refuses an unknown ``driver:`` with the list of known names.
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

"""Serial and gateway devices: wristband receivers (now); dossier cabinets and the SMS modem (to come).

Importing the package registers every built-in driver, so ``driver:`` names resolve in configs.
"""

from devices import wristbands as _wristbands  # noqa: F401  (registers "wristband-rs485")
from devices.registry import driver, known_drivers, register_driver

__all__ = ["driver", "known_drivers", "register_driver"]

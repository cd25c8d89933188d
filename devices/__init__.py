"""Serial and gateway devices: wristband receivers, dossier cabinets, the SMS modem.

Importing the package registers every built-in driver, so ``driver:`` names resolve in configs.
"""

from devices import cabinet as _cabinet  # noqa: F401  (registers "dossier-cabinet")
from devices import wristband_gateways as _gateways  # noqa: F401  ("wristband-jsonl", "wristband-mqtt")
from devices import wristbands as _wristbands  # noqa: F401  (registers "wristband-rs485")
from devices.registry import driver, known_drivers, register_driver

__all__ = ["driver", "known_drivers", "register_driver"]

"""Serial and gateway devices: wristband receivers, dossier cabinets, the SMS modem."""

from devices.registry import driver, known_drivers, register_driver

__all__ = ["driver", "known_drivers", "register_driver"]

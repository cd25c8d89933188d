"""What the agent and the hub both stand on, above the wire contract (``protocol``) and below them:
settings models and YAML loading with line-precise errors (``settings``, ``configfile``), logging
(``logs``), the errors beyond the wire (``errors``) and the MQTT link (``mqtt_link``). Of ours it
imports only ``protocol`` (tests/test_layers.py).
"""

__version__ = "0.1.0"

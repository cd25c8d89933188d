"""The edge agent: cameras and devices -> room state -> conditions -> signed events -> MQTT."""
